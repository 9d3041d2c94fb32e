"""Telegram end to end: updates posted to the hub land on one timeline, replies go out through
the fake Bot API once, flood control delays them, a block fails them with the reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy
from sqlalchemy import func, select

from channels.telegram.secret_token import HEADER
from hub.channel_directory import Channel
from hub.context import Hub
from hub.sending import send_message
from tests.conftest import ServedHub
from tests.workspace import SeededWorkspace, queued_reply, seed_workspace, sms_request
from timeline.models import Conversation, Customer, OutboundMessage, TimelineEvent
from timeline.outbox import claim

from .accounts import SECRET, telegram_channel
from .fake_bot_api import FakeBotApi

FIXTURES = Path(__file__).with_name("fixtures")
SARA = {"id": 123456789, "type": "private", "first_name": "Sara", "last_name": "Ahmadi"}


def update(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_bytes())


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _setup(served: ServedHub, fake: FakeBotApi) -> tuple[Hub, SeededWorkspace, Channel]:
    hub: Hub = served.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub)
    fake.add_chat(SARA)
    channel = await telegram_channel(
        hub, ws.id, provider_base_url=fake.base_url.removesuffix("/bot")
    )
    return hub, ws, channel


async def _post(http: aiohttp.ClientSession, channel: Channel, body: dict[str, Any]) -> int:
    headers = {"Content-Type": "application/json", HEADER: SECRET}
    async with http.post(channel.webhook_url, data=json.dumps(body), headers=headers) as answer:
        return answer.status


async def _scalar(hub: Hub, query: Any) -> Any:
    async with hub.engine.connect() as conn:
        return (await conn.execute(query)).scalar_one()


async def _wait_for(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _reply(http: aiohttp.ClientSession, served: ServedHub, ws: SeededWorkspace) -> int:
    conversation_id = await _scalar(served.hub, select(Conversation.id))  # type: ignore[arg-type]
    async with http.post(
        f"{served.base_url}/api/v1/conversations/{conversation_id}/replies",
        json={"body": "Your parcel left today."},
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as answer:
        assert answer.status == 202, await answer.text()
        return (await answer.json())["message_id"]


async def test_text_photo_voice_edit_and_contact_land_on_one_timeline_with_the_sms_history(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, ws, channel = await _setup(served_hub, fake_bot_api)
    # The same person texted before, from the number their contact card will carry.
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+98 912 123 4567")])
    original = update("message_received__text")
    original["message"].update(message_id=119, text="I ordered the green one", date=1796550480)
    del original["message"]["entities"]
    original["update_id"] = 733000018
    sent = [
        update("message_received__text"),
        update("message_received__photo_caption"),
        update("message_received__voice"),
        original,
        update("message_edited__text"),
        update("message_received__contact_own"),
    ]
    for body in sent:
        assert await _post(http, channel, body) == 200
    async with hub.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    TimelineEvent.customer_id,
                    TimelineEvent.conversation_id,
                    TimelineEvent.kind,
                    TimelineEvent.channel_account_id,
                )
            )
        ).all()
    telegram = [row for row in rows if row.channel_account_id == channel.context.channel_account_id]
    assert len({row.customer_id for row in rows}) == 1  # the SMS history's customer
    assert len({row.conversation_id for row in telegram}) == 1
    assert [row.kind for row in telegram].count("message_received") == 5
    assert len(rows) - len(telegram) == 1
    async with http.get(
        f"{served_hub.base_url}/api/v1/customers/{rows[0].customer_id}/timeline",
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as answer:
        items = (await answer.json())["items"]
    edited = next(item for item in items if item.get("versions"))
    assert edited["body"] == "I ordered the blue one, not the green one"
    assert [version["body"] for version in edited["versions"]] == ["I ordered the green one"]


async def test_a_reply_reaches_the_bot_api_once_even_when_its_job_runs_again(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, ws, channel = await _setup(served_hub, fake_bot_api)
    assert await _post(http, channel, update("message_received__text")) == 200
    message_id = await _reply(http, served_hub, ws)

    async def sent() -> bool:
        return await _scalar(hub, select(OutboundMessage.external_id)) is not None

    await _wait_for(sent)
    await asyncio.gather(send_message(hub, message_id), send_message(hub, message_id))
    (call,) = fake_bot_api.calls_of("sendMessage")
    assert call.params["chat_id"] == str(SARA["id"])
    assert call.params["reply_parameters"]["message_id"] == 101
    assert await _scalar(hub, select(OutboundMessage.external_id)) == f"{SARA['id']}:1000"


async def test_flood_control_delays_the_reply_by_what_telegram_asks(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, ws, channel = await _setup(served_hub, fake_bot_api)
    assert await _post(http, channel, update("message_received__text")) == 200
    fake_bot_api.retry_after("sendMessage", 30)
    before = datetime.now(UTC)
    await _reply(http, served_hub, ws)

    async def refused() -> bool:
        return await _scalar(hub, select(OutboundMessage.error)) is not None

    await _wait_for(refused)
    due = await _scalar(hub, select(OutboundMessage.next_attempt_at))
    due = due if due.tzinfo else due.replace(tzinfo=UTC)
    assert due >= before + timedelta(seconds=30)
    assert await _scalar(hub, select(OutboundMessage.status)) == "queued"
    assert len(fake_bot_api.calls_of("sendMessage")) == 1


async def test_a_customer_who_blocked_the_bot_fails_the_reply_and_is_marked_unreachable(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, ws, channel = await _setup(served_hub, fake_bot_api)
    assert await _post(http, channel, update("message_received__text")) == 200
    fake_bot_api.block(SARA["id"])
    message_id = await _reply(http, served_hub, ws)

    async def failed() -> bool:
        return await _scalar(hub, select(OutboundMessage.status)) == "failed"

    await _wait_for(failed)
    async with http.get(
        f"{served_hub.base_url}/api/v1/messages/{message_id}",
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as answer:
        assert "bot was blocked by the user" in (await answer.json())["error"]
    assert await _scalar(hub, select(func.count()).select_from(OutboundMessage)) == 1
    customer_id = await _scalar(hub, select(Customer.id))
    async with http.get(
        f"{served_hub.base_url}/api/v1/customers/{customer_id}",
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as answer:
        (identity,) = (await answer.json())["identities"]
    assert identity["kind"] == "telegram"
    assert "bot was blocked by the user" in identity["unreachable"]


async def test_a_reply_whose_worker_stopped_mid_send_is_not_sent_again(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, ws, channel = await _setup(served_hub, fake_bot_api)
    assert await _post(http, channel, update("message_received__text")) == 200
    message_id = await queued_reply(hub, ws.id)
    async with hub.engine.begin() as conn:
        # A worker took it, called sendMessage perhaps, and stopped before recording the answer.
        assert await claim(conn, message_id) is not None
        await conn.execute(
            sqlalchemy.update(OutboundMessage).values(
                claimed_until=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
    await send_message(hub, message_id)
    assert fake_bot_api.calls_of("sendMessage") == []
    assert await _scalar(hub, select(OutboundMessage.status)) == "failed"
    assert "may have reached the customer" in await _scalar(hub, select(OutboundMessage.error))


async def _link_token(
    http: aiohttp.ClientSession, served: ServedHub, ws: SeededWorkspace, customer_id: int
) -> dict[str, Any]:
    async with http.post(
        f"{served.base_url}/api/v1/customers/{customer_id}/link-token",
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as answer:
        assert answer.status == 201, await answer.text()
        return await answer.json()


def _started_with(payload: str) -> dict[str, Any]:
    body = update("message_received__start_payload")
    body["message"]["text"] = f"/start {payload}"
    return body


async def test_a_deep_link_with_the_customers_token_joins_the_telegram_user_to_them(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, ws, channel = await _setup(served_hub, fake_bot_api)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+98 912 123 4567")])
    customer_id = await _scalar(hub, select(Customer.id))
    assert await _post(http, channel, update("message_received__text")) == 200  # a stranger yet
    assert await _scalar(hub, select(func.count()).select_from(Customer)) == 2

    issued = await _link_token(http, served_hub, ws, customer_id)
    (link,) = issued["links"]
    assert link["channel_account_id"] == channel.context.channel_account_id
    assert link["url"] == f"https://t.me/switchboard_demo_bot?start={issued['token']}"
    payload = link["url"].partition("?start=")[2]
    assert await _post(http, channel, _started_with(payload)) == 200

    async with hub.engine.connect() as conn:
        owners = set((await conn.execute(select(TimelineEvent.customer_id))).scalars())
        kinds = (await conn.execute(select(TimelineEvent.kind))).scalars().all()
    assert owners == {customer_id}
    assert kinds.count("message_received") == 3
    async with http.get(
        f"{served_hub.base_url}/api/v1/customers/{customer_id}",
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as answer:
        handles = {(i["kind"], i["value"]) for i in (await answer.json())["identities"]}
    assert handles == {("phone", "+989121234567"), ("telegram", str(SARA["id"]))}


async def test_a_foreign_or_made_up_token_links_nobody_and_the_message_is_kept(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, ws, channel = await _setup(served_hub, fake_bot_api)
    other = await seed_workspace(hub, name="Other")
    await hub.pipeline.ingest([sms_request(other, "SM1", "+98 912 123 4567")])
    theirs = await _scalar(hub, select(Customer.id))
    foreign = (await _link_token(http, served_hub, other, theirs))["token"]
    for number, payload in enumerate((foreign, "c_9f8e7d6c5b4a")):
        body = _started_with(payload)
        body["update_id"] += number
        body["message"]["message_id"] += number
        assert await _post(http, channel, body) == 200
    async with hub.engine.connect() as conn:
        rows = (await conn.execute(select(TimelineEvent.customer_id, TimelineEvent.kind))).all()
    received = [row.customer_id for row in rows if row.kind == "message_received"]
    assert len(received) == 3 and received.count(theirs) == 1  # only their own SMS


async def test_an_agents_formatted_reply_reaches_the_customer_formatted(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, ws, channel = await _setup(served_hub, fake_bot_api)
    assert await _post(http, channel, update("message_received__text")) == 200
    conversation_id = await _scalar(hub, select(Conversation.id))
    async with http.post(
        f"{served_hub.base_url}/api/v1/conversations/{conversation_id}/replies",
        json={
            "body": "Your parcel left today: track it",
            "html": '<p>Your <b>parcel</b> left today: <a href="https://t.example/1">track it</a>'
            "<script>alert(1)</script></p>",
        },
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as answer:
        assert answer.status == 202, await answer.text()

    async def sent() -> bool:
        return await _scalar(hub, select(OutboundMessage.external_id)) is not None

    await _wait_for(sent)
    stored = fake_bot_api.messages[(SARA["id"], 1000)]
    assert stored["text"] == "Your parcel left today: track it"
    assert stored["entities"] == [
        {"type": "bold", "offset": 5, "length": 6},
        {"type": "text_link", "offset": 24, "length": 8, "url": "https://t.example/1"},
    ]
