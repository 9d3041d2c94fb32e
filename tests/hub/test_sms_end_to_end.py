"""SMS end to end over HTTP: webhooks in, replies out through a fake Twilio, receipts back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from sqlalchemy import func, select

from channels.sms.simulate import inbound_sms_form, signed
from hub.context import Hub
from tests.channels.sms.fake_twilio import FakeTwilio
from tests.conftest import POSTGRES_ADMIN_DSN, ServedHub
from tests.workspace import (
    OUR_NUMBER,
    SMS_ACCOUNT_SID,
    SMS_AUTH_TOKEN,
    SeededWorkspace,
    seed_workspace,
)
from timeline.models import Conversation, OutboundMessage, QuarantinedPayload, TimelineEvent, User


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _workspace(served: ServedHub, twilio: FakeTwilio, **kwargs: int) -> SeededWorkspace:
    return await seed_workspace(served.hub, provider_base_url=twilio.base_url, **kwargs)  # type: ignore[arg-type]


async def _text(
    http: aiohttp.ClientSession,
    ws: SeededWorkspace,
    sender: str,
    body: str,
    sid: str | None = None,
    secret: str = SMS_AUTH_TOKEN,
) -> aiohttp.ClientResponse:
    fields = inbound_sms_form(
        sender=sender, recipient=OUR_NUMBER, body=body, message_sid=sid, account_sid=SMS_ACCOUNT_SID
    )
    data, headers = signed(ws.sms_webhook_url, secret, fields)
    async with http.post(ws.sms_webhook_url, data=data, headers=headers) as response:
        await response.read()
        return response


async def _scalar(hub: Hub, query: object) -> object:
    async with hub.engine.connect() as conn:
        return (await conn.execute(query)).scalar_one()  # type: ignore[arg-type]


async def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def _reply(
    http: aiohttp.ClientSession, served: ServedHub, ws: SeededWorkspace, body: str
) -> int:
    """Answer the workspace's only conversation through the API; the queued message's id."""
    conversation_id = await _scalar(served.hub, select(Conversation.id))  # type: ignore[arg-type]
    async with http.post(
        f"{served.base_url}/api/v1/conversations/{conversation_id}/replies",
        json={"body": body},
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as response:
        assert response.status == 202, await response.text()
        return (await response.json())["message_id"]


async def _message(
    http: aiohttp.ClientSession, served: ServedHub, ws: SeededWorkspace, message_id: int
) -> dict:
    async with http.get(
        f"{served.base_url}/api/v1/messages/{message_id}",
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as response:
        return await response.json()


async def _wait_until_sent(hub: Hub) -> None:
    async def sent() -> bool:
        return await _scalar(hub, select(OutboundMessage.external_id)) is not None

    await _wait_for(sent)


async def test_a_webhook_delivered_three_times_is_one_timeline_event(
    served_hub: ServedHub, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    ws = await _workspace(served_hub, twilio)
    for _ in range(3):
        response = await _text(http, ws, "+14155550123", "Where is my order?", sid="SM" + "a" * 32)
        assert response.status == 200
        assert response.content_type == "text/xml"
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    assert await _scalar(hub, select(func.count()).select_from(TimelineEvent)) == 1
    assert await _scalar(hub, select(func.count()).select_from(Conversation)) == 1


async def test_a_reply_reaches_the_provider_once_and_receipts_move_it_to_delivered(
    served_hub: ServedHub, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    ws = await _workspace(served_hub, twilio)
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    await _text(http, ws, "+1 (415) 555-0123", "Hi, is my order shipped?")
    message_id = await _reply(http, served_hub, ws, "Yes — it left today. Ваш заказ в пути 📦")
    await _wait_until_sent(hub)
    creates = [r for r in twilio.requests if r.method == "POST"]
    assert len(creates) == 1
    assert creates[0].field("To") == "+14155550123"
    assert creates[0].field("From") == OUR_NUMBER
    assert creates[0].field("Body") == "Yes — it left today. Ваш заказ в пути 📦"
    assert creates[0].field("StatusCallback") == ws.sms_webhook_url
    sid = await _scalar(hub, select(OutboundMessage.external_id))
    for status in ("sent", "delivered", "sent"):  # a late "sent" must not move it back
        code, _ = await twilio.report_status(http, sid, status)
        assert code == 200
    assert (await _message(http, served_hub, ws, message_id))["status"] == "delivered"
    await asyncio.sleep(0.3)  # the scheduler must not send it a second time
    assert len([r for r in twilio.requests if r.method == "POST"]) == 1
    conversation = await _scalar(hub, select(Conversation.first_response_at))
    assert conversation is not None


async def test_a_permanent_provider_error_fails_the_message_with_the_reason(
    served_hub: ServedHub, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    ws = await _workspace(served_hub, twilio)
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    await _text(http, ws, "+14155550123", "hello")
    twilio.fail_next(400, 21211, "The 'To' number +14155550123 is not a valid phone number.")
    message_id = await _reply(http, served_hub, ws, "hi")

    async def failed() -> bool:
        return await _scalar(hub, select(OutboundMessage.status)) == "failed"

    await _wait_for(failed)
    message = await _message(http, served_hub, ws, message_id)
    assert "21211" in message["error"] and "not a valid phone number" in message["error"]


async def test_a_transient_error_is_retried_and_sent_once(
    served_hub: ServedHub,
    twilio: FakeTwilio,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta

    monkeypatch.setattr("hub.sending.FIRST_RETRY", timedelta(milliseconds=50))
    ws = await _workspace(served_hub, twilio)
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    await _text(http, ws, "+14155550123", "hello")
    twilio.fail_next(503, 20500, "Service Unavailable")
    twilio.drop_next(1)
    await _reply(http, served_hub, ws, "hi")
    await _wait_until_sent(hub)
    await asyncio.sleep(0.3)
    assert len(twilio.messages) == 1
    assert await _scalar(hub, select(OutboundMessage.attempts)) == 3


async def test_bad_input_is_refused_and_nothing_is_lost(
    served_hub: ServedHub, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    ws = await _workspace(served_hub, twilio)
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    forged = await _text(http, ws, "+14155550123", "hello", secret="not-the-secret")
    assert forged.status == 403
    unsigned_fields = inbound_sms_form(sender="+14155550123", recipient=OUR_NUMBER, body="x")
    data, _ = signed(ws.sms_webhook_url, SMS_AUTH_TOKEN, unsigned_fields)
    async with http.post(
        ws.sms_webhook_url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"}
    ) as r:
        assert r.status == 403
    assert await _scalar(hub, select(func.count()).select_from(TimelineEvent)) == 0
    assert await _scalar(hub, select(func.count()).select_from(QuarantinedPayload)) == 0

    malformed = [("Body", "no sender"), ("AccountSid", SMS_ACCOUNT_SID)]
    data, headers = signed(ws.sms_webhook_url, SMS_AUTH_TOKEN, malformed)
    async with http.post(ws.sms_webhook_url, data=data, headers=headers) as r:
        assert r.status == 400
        error = (await r.json())["error"]
    assert error["code"] == "malformed_payload"
    assert "MessageSid" in error["message"] or "From" in error["message"]
    async with hub.engine.connect() as conn:
        kept = (await conn.execute(select(QuarantinedPayload.body))).scalar_one()
    assert kept == data

    unknown = f"{served_hub.base_url}/webhooks/sms/twilio/999999"
    async with http.post(unknown, data=data, headers=headers) as r:
        assert r.status == 404
    wrong_kind = ws.sms_webhook_url.replace("/sms/twilio/", "/telegram/bot/")
    async with http.post(wrong_kind, data=data, headers=headers) as r:
        assert r.status == 404


async def test_an_unsupported_provider_event_is_answered_200_and_stored_nowhere(
    served_hub: ServedHub, twilio: FakeTwilio, http: aiohttp.ClientSession
) -> None:
    ws = await _workspace(served_hub, twilio)
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    call = [
        ("CallSid", "CA" + "1" * 32),
        ("AccountSid", SMS_ACCOUNT_SID),
        ("From", "+14155550123"),
        ("To", OUR_NUMBER),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
    data, headers = signed(ws.sms_webhook_url, SMS_AUTH_TOKEN, call)
    async with http.post(ws.sms_webhook_url, data=data, headers=headers) as r:
        assert r.status == 200
    assert await _scalar(hub, select(func.count()).select_from(TimelineEvent)) == 0


async def test_fifty_concurrent_connections_assign_every_customer_once_within_capacity(
    served_hub: ServedHub, twilio: FakeTwilio
) -> None:
    ws = await _workspace(served_hub, twilio, agents=4, capacity=7)
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    customers = [f"+1415555{n:04d}" for n in range(25)]
    texts = [(c, f"message {i}") for i in range(4) for c in customers]
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector) as http:
        responses = await asyncio.gather(*(_text(http, ws, c, body) for c, body in texts))
    assert {r.status for r in responses} == {200}
    async with hub.engine.connect() as conn:
        conversations = (await conn.execute(select(Conversation))).all()
        agents = (await conn.execute(select(User).where(User.id.in_(ws.agent_ids)))).all()
        events = (await conn.execute(select(func.count()).select_from(TimelineEvent))).scalar_one()
    assert events == 100
    assert len(conversations) == 25
    assert len({c.customer_id for c in conversations}) == 25
    assert all(c.assignee_id is not None for c in conversations)
    for agent in agents:
        held = sum(1 for c in conversations if c.assignee_id == agent.id)
        assert held == agent.open_conversations <= agent.capacity


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_webhooks_after_the_database_dropped_every_connection_are_still_stored(
    served_hub: ServedHub, twilio: FakeTwilio, http: aiohttp.ClientSession, database_url: str
) -> None:
    ws = await _workspace(served_hub, twilio)
    assert (await _text(http, ws, "+14155550123", "before", sid="SM" + "b" * 32)).status == 200
    database = database_url.rsplit("/", 1)[-1]
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        dropped = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            database,
        )
    finally:
        await admin.close()
    assert dropped >= 1
    assert (await _text(http, ws, "+14155550123", "after", sid="SM" + "c" * 32)).status == 200
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    assert await _scalar(hub, select(func.count()).select_from(TimelineEvent)) == 2
