"""Updates posted to the hub: taken in with the right secret token, refused (403, nothing
stored) without it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from channels.telegram.secret_token import HEADER
from hub.context import Hub
from tests.conftest import ServedHub
from tests.workspace import seed_workspace
from timeline.models import RawPayloadRecord, TimelineEvent

from .accounts import SECRET, telegram_channel

UPDATE = (Path(__file__).with_name("fixtures") / "message_received__text.json").read_bytes()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _stored(hub: Hub) -> tuple[int, int]:
    async with hub.engine.connect() as conn:
        events = (await conn.execute(select(func.count()).select_from(TimelineEvent))).scalar()
        raws = (await conn.execute(select(func.count()).select_from(RawPayloadRecord))).scalar()
    return events or 0, raws or 0


@pytest.mark.parametrize(
    "headers",
    [{}, {HEADER: SECRET + "x"}, {HEADER: SECRET[:-1]}, {HEADER: ""}],
    ids=["missing", "longer", "shorter", "empty"],
)
async def test_a_wrong_or_missing_secret_token_is_refused_and_nothing_is_stored(
    served_hub: ServedHub, http: aiohttp.ClientSession, headers: dict[str, str]
) -> None:
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub)
    channel = await telegram_channel(hub, ws.id)
    sent = {"Content-Type": "application/json", **headers}
    async with http.post(channel.webhook_url, data=UPDATE, headers=sent) as answer:
        assert answer.status == 403
    assert await _stored(hub) == (0, 0)


async def test_the_right_secret_token_stores_the_update_once(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub)
    channel = await telegram_channel(hub, ws.id)
    headers = {"Content-Type": "application/json", HEADER: SECRET}
    for _ in range(2):  # Telegram redelivers when an answer is lost
        async with http.post(channel.webhook_url, data=UPDATE, headers=headers) as answer:
            assert answer.status == 200
    assert await _stored(hub) == (1, 1)
