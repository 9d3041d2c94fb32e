"""/api/v1/stream: a customer's SMS, its assignment and an agent's reply arrive live, also
from another serving process (Redis), and a client that reconnects gets exactly what it
missed, also after the server closed it for not reading; what the endpoint refuses, it
refuses in the API's error shape."""

from __future__ import annotations

import asyncio
import gc
import json
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from sqlalchemy import select

from channels.sms.simulate import inbound_sms_form, signed
from hub.api import stream as stream_module
from hub.config import Settings
from hub.context import Hub
from tests.conftest import ServedHub, bearer
from tests.serve_processes import ready, serving
from tests.workspace import (
    OUR_NUMBER,
    SMS_ACCOUNT_SID,
    SMS_AUTH_TOKEN,
    SeededWorkspace,
    seed_workspace,
    seed_workspace_apart,
)
from timeline.domain import DomainEvent
from timeline.event_log import record
from timeline.models import Conversation

CUSTOMER = "+14155550123"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _text(http: aiohttp.ClientSession, base_url: str, ws: SeededWorkspace, body: str) -> None:
    """A customer's SMS, signed and posted to the hub at `base_url`."""
    url = base_url + urlsplit(ws.sms_webhook_url).path
    fields = inbound_sms_form(
        sender=CUSTOMER, recipient=OUR_NUMBER, body=body, account_sid=SMS_ACCOUNT_SID
    )
    data, headers = signed(url, SMS_AUTH_TOKEN, fields)
    async with http.post(url, data=data, headers=headers) as response:
        assert response.status == 200, await response.text()


async def _reply(
    http: aiohttp.ClientSession, base_url: str, ws: SeededWorkspace, conversation_id: int
) -> None:
    async with http.post(
        f"{base_url}/api/v1/conversations/{conversation_id}/replies",
        json={"body": "On it"},
        headers=bearer(ws.token),
    ) as response:
        assert response.status == 202, await response.text()


async def _receive(socket: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    return [await socket.receive_json(timeout=5) for _ in range(count)]


def _told(messages: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(m["type"], m["data"].get("kind")) for m in messages]


async def _nothing_more(socket: aiohttp.ClientWebSocketResponse) -> None:
    with pytest.raises(TimeoutError):
        await socket.receive(timeout=0.5)


async def _sms_assignment_reply_then_resume(
    http: aiohttp.ClientSession, streaming: str, posting: str, ws: SeededWorkspace
) -> None:
    """A stream client on `streaming` while texts and replies go to `posting`."""
    stream = f"{streaming}/api/v1/stream"
    async with http.ws_connect(stream, headers=bearer(ws.token)) as socket:
        await _text(http, posting, ws, "where is my order?")
        live = await _receive(socket, 3)
        assert _told(live) == [
            ("conversation.opened", None),
            ("timeline.event_appended", "message_received"),
            ("conversation.assigned", None),
        ]
        conversation_id = live[0]["data"]["conversation_id"]
        assert live[2]["data"] == {"conversation_id": conversation_id, "agent_id": ws.agent_ids[0]}
        await _reply(http, posting, ws, conversation_id)
        [replied] = await _receive(socket, 1)
        assert _told([replied]) == [("timeline.event_appended", "message_sent")]
        assert replied["data"]["conversation_id"] == conversation_id
        ids = [m["id"] for m in [*live, replied]]
        assert ids == sorted(set(ids))
        await _nothing_more(socket)
    await _text(http, posting, ws, "hello?")
    await _reply(http, posting, ws, conversation_id)
    await _text(http, posting, ws, "thanks")
    resume = {"last_event_id": str(ids[-1])}
    async with http.ws_connect(stream, params=resume, headers=bearer(ws.token)) as socket:
        missed = await _receive(socket, 3)
        assert _told(missed) == [
            ("timeline.event_appended", "message_received"),
            ("timeline.event_appended", "message_sent"),
            ("timeline.event_appended", "message_received"),
        ]
        assert [m["id"] for m in missed] == sorted(m["id"] for m in missed)
        assert missed[0]["id"] > ids[-1]
        await _nothing_more(socket)
        await _reply(http, posting, ws, conversation_id)  # and live again after the replay
        [live_again] = await _receive(socket, 1)
        assert live_again["id"] > missed[-1]["id"]


async def test_the_stream_tells_of_texts_assignments_and_replies_and_resumes(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    ws = await seed_workspace(served_hub.hub)  # type: ignore[arg-type]
    await _sms_assignment_reply_then_resume(http, served_hub.base_url, served_hub.base_url, ws)


async def test_a_stream_on_one_process_hears_what_another_process_took_in(
    settings: Settings,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    http: aiohttp.ClientSession,
) -> None:
    ws = await seed_workspace_apart(settings)
    with serving(database_url, tmp_path, SWITCHBOARD_REDIS_URL=redis_url) as (one, other):
        for base in (one, other):
            await ready(http, base)
        await _sms_assignment_reply_then_resume(http, one, other, ws)


async def test_the_token_may_come_as_a_query_parameter_and_only_its_workspace_is_told(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    ours = await seed_workspace(served_hub.hub, name="ours")  # type: ignore[arg-type]
    theirs = await seed_workspace(served_hub.hub, name="theirs")  # type: ignore[arg-type]
    stream = f"{served_hub.base_url}/api/v1/stream"
    async with http.ws_connect(stream, params={"access_token": theirs.token}) as socket:
        await _text(http, served_hub.base_url, ours, "hi")
        await _nothing_more(socket)
    async with http.ws_connect(
        stream, params={"access_token": ours.token, "last_event_id": "0"}
    ) as socket:
        told = await _receive(socket, 3)
        assert [m["type"] for m in told][0] == "conversation.opened"
        async with served_hub.hub.engine.connect() as conn:  # type: ignore[attr-defined]
            conversation_id = (await conn.execute(select(Conversation.id))).scalar_one()
        assert told[0]["data"] == {"conversation_id": conversation_id}
        await _nothing_more(socket)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({}, 426),
        ({"last_event_id": "12"}, 426),
        ({"last_event_id": "٢"}, 422),
        ({"last_event_id": "-1"}, 422),
        ({"last_event_id": "9223372036854775808"}, 422),
        ({"last_event_id": "1e3"}, 422),
    ],
)
async def test_what_the_stream_refuses_it_answers_in_the_error_shape(
    served_hub: ServedHub, http: aiohttp.ClientSession, query: dict[str, str], status: int
) -> None:
    ws = await seed_workspace(served_hub.hub)  # type: ignore[arg-type]
    url = f"{served_hub.base_url}/api/v1/stream"
    async with http.get(url, params=query, headers=bearer(ws.token)) as response:
        assert response.status == status
        assert (await response.json())["error"]["code"] in ("upgrade_required", "invalid")
    async with http.get(url) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(url, params={"access_token": "sbt_not-a-token"})
    assert refused.value.status == 401


async def test_a_client_that_stops_reading_is_closed_and_resumes_where_it_stopped(
    served_hub: ServedHub, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "SEND_SECONDS", 0.5)
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub)
    padding = "x" * 2000
    async with hub.engine.begin() as conn:  # ~10 MB of events: more than the sockets buffer
        await record(
            conn,
            [DomainEvent(ws.id, "test.padded", {"n": n, "padding": padding}) for n in range(5000)],
        )
    stream = f"{served_hub.base_url}/api/v1/stream"
    params = {"last_event_id": "0"}
    async with http.ws_connect(stream, params=params, headers=bearer(ws.token)) as socket:
        await asyncio.sleep(2)  # not reading: the server's sends block, then time out
        received = []
        async with asyncio.timeout(20):
            async for message in socket:
                received.append(json.loads(message.data)["id"])
        assert socket.close_code == stream_module.RESUME_LATER
    assert 0 < len(received) < 5000
    params = {"last_event_id": str(received[-1])}
    async with http.ws_connect(stream, params=params, headers=bearer(ws.token)) as socket:
        rest = [(await socket.receive_json(timeout=5))["id"] for _ in range(5000 - len(received))]
    assert received + rest == sorted(set(received + rest))


async def test_clients_that_leave_at_once_leave_every_database_connection_in_the_pool(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    """A stream's reader is cancelled when its client leaves; a cancel inside the pool's
    checkout would lose the connection (SQLite's only one: the whole hub would then wait)."""
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub)
    stream = f"{served_hub.base_url}/api/v1/stream"

    async def all_returned() -> None:
        while hub.engine.pool.checkedout():  # type: ignore[attr-defined]
            await asyncio.sleep(0.02)

    gc.disable()  # the collector would give a lost connection back, some time later
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for _ in range(30):
                socket = await http.ws_connect(stream, params={"access_token": ws.token})
                await socket.close()
            await asyncio.wait_for(all_returned(), timeout=5)
    finally:
        gc.enable()
    lost = [w for w in seen if "non-checked-in connection" in str(w.message)]
    assert not lost, "a connection was lost and only found again when it was freed"
    answered = await http.get(f"{served_hub.base_url}/api/v1/customers", headers=bearer(ws.token))
    assert answered.status == 200
