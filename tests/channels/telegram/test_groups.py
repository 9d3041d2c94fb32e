"""Group chats end to end, when the account serves them: one conversation per chat, each
member an identity of their own, replies to the group; declined while groups are off."""

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
from tests.conftest import ServedHub
from tests.workspace import SeededWorkspace, seed_workspace
from timeline.models import Conversation, Identity, OutboundMessage, TimelineEvent

from .accounts import SECRET, telegram_channel
from .fake_bot_api import FakeBotApi

FIXTURES = Path(__file__).with_name("fixtures")
GROUP = {"id": -4012345678, "title": "Acme customers", "type": "group"}
REZA = {"id": 987654321, "is_bot": False, "first_name": "رضا"}
SARA = {"id": 123456789, "is_bot": False, "first_name": "Sara"}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def group_message(number: int, sender: dict[str, Any], text: str) -> dict[str, Any]:
    """An update of the group's recorded text, from `sender`, as message `number`."""
    body = json.loads((FIXTURES / "unsupported__group_text.json").read_bytes())
    body["update_id"] += number
    body["message"].update(message_id=114 + number, text=text, date=1796550180 + number)
    body["message"]["from"] = sender
    del body["message"]["entities"]
    return body


async def _setup(
    served: ServedHub, fake: FakeBotApi, *, groups: bool
) -> tuple[Hub, SeededWorkspace, Channel]:
    hub: Hub = served.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub)
    fake.add_chat(GROUP)
    base = fake.base_url.removesuffix("/bot")
    channel = await telegram_channel(hub, ws.id, provider_base_url=base, groups=groups)
    return hub, ws, channel


async def _post(http: aiohttp.ClientSession, channel: Channel, body: dict[str, Any]) -> int:
    headers = {"Content-Type": "application/json", HEADER: SECRET}
    async with http.post(channel.webhook_url, data=json.dumps(body), headers=headers) as answer:
        return answer.status


async def _rows(hub: Hub, query: Any) -> list[Any]:
    async with hub.engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def test_members_of_a_group_share_its_conversation_each_an_identity(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, ws, channel = await _setup(served_hub, fake_bot_api, groups=True)
    assert await _post(http, channel, group_message(0, REZA, "سلام، کسی می‌تونه کمک کنه؟")) == 200
    assert await _post(http, channel, group_message(1, SARA, "Me too, my order is late")) == 200

    events = await _rows(hub, select(TimelineEvent.conversation_id, TimelineEvent.customer_id))
    identities = await _rows(hub, select(Identity.kind, Identity.value, Identity.customer_id))
    assert len(events) == 2 and len({row.conversation_id for row in events}) == 1
    assert sorted((kind, value) for kind, value, _ in identities) == [
        ("telegram", str(SARA["id"])),
        ("telegram", str(REZA["id"])),
    ]
    assert len({customer for *_, customer in identities}) == 2  # two people, not one
    assert {row.customer_id for row in events} == {customer for *_, customer in identities}

    (conversation_id,) = {row.conversation_id for row in events}
    async with http.post(
        f"{served_hub.base_url}/api/v1/conversations/{conversation_id}/replies",
        json={"body": "We are looking into both orders."},
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as answer:
        assert answer.status == 202, await answer.text()

    async def sent() -> bool:
        rows = await _rows(hub, select(OutboundMessage.external_id))
        return bool(rows) and rows[0].external_id is not None

    deadline = asyncio.get_running_loop().time() + 10
    while not await sent():
        assert asyncio.get_running_loop().time() < deadline, "the reply was not sent"
        await asyncio.sleep(0.05)
    (call,) = fake_bot_api.calls_of("sendMessage")
    assert call.params["chat_id"] == str(GROUP["id"])  # the group, not a member's private chat
    assert call.params["reply_parameters"]["message_id"] == 115  # Sara's, the newest


async def test_a_group_writing_after_its_conversation_was_resolved_long_ago_opens_one_more(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, _, channel = await _setup(served_hub, fake_bot_api, groups=True)
    assert await _post(http, channel, group_message(0, REZA, "first matter")) == 200
    async with hub.engine.begin() as conn:
        await conn.execute(
            sqlalchemy.update(Conversation).values(
                status="resolved", resolved_at=datetime.now(UTC) - timedelta(days=365)
            )
        )
    for number, sender in ((1, SARA), (2, REZA), (3, SARA)):
        assert await _post(http, channel, group_message(number, sender, "a new matter")) == 200
    events = await _rows(
        hub, select(TimelineEvent.external_id, TimelineEvent.conversation_id).order_by("id")
    )
    first, *later = [row.conversation_id for row in events]
    assert len(later) == 3 and len(set(later)) == 1 and later[0] != first


async def test_group_messages_are_not_stored_while_groups_are_off(
    served_hub: ServedHub, fake_bot_api: FakeBotApi, http: aiohttp.ClientSession
) -> None:
    hub, _, channel = await _setup(served_hub, fake_bot_api, groups=False)
    assert await _post(http, channel, group_message(0, REZA, "hello")) == 200
    assert await _rows(hub, select(func.count()).select_from(TimelineEvent)) == [(0,)]
