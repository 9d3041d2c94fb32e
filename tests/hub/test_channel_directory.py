"""The channel directory: cached adapters, rechecked every few seconds, once however many
requests arrive together; changes and deactivations followed."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from hub.channel_directory import ChannelDirectory, UnknownChannel
from hub.context import Hub
from hub.provisioning import ChannelChange, update_channel
from tests.conftest import TEST_BASE_URL
from tests.workspace import seed_workspace


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _count_statements(hub: Hub, word: str) -> list[str]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        statement = args[2]
        if word in statement:
            seen.append(statement)

    event.listen(hub.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_requests_arriving_together_after_the_recheck_time_check_once(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    clock = Clock()
    directory = ChannelDirectory(hub.engine, hub.secrets, TEST_BASE_URL, clock=clock)
    first = await directory.get(ws.sms_channel_id)
    rechecks = _count_statements(hub, "channel_accounts.revision")
    clock.now += 1
    await asyncio.gather(*(directory.get(ws.sms_channel_id) for _ in range(50)))
    assert rechecks == []
    clock.now += 2
    channels = await asyncio.gather(*(directory.get(ws.sms_channel_id) for _ in range(50)))
    assert len(rechecks) == 1
    assert all(channel is first for channel in channels)
    await directory.close()


async def test_a_change_is_followed_and_a_deactivation_refused(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    clock = Clock()
    directory = ChannelDirectory(hub.engine, hub.secrets, TEST_BASE_URL, clock=clock)
    before = await directory.get(ws.sms_channel_id)
    key = before.webhook_url.rsplit("/", 1)[-1]
    async with hub.engine.begin() as conn:
        await update_channel(
            conn, hub.secrets, ws.sms_channel_id, ChannelChange(credentials={"auth_token": "n"})
        )
    assert await directory.get(ws.sms_channel_id) is before, "within the recheck time"
    clock.now += 2
    after = await directory.by_webhook_key(key)
    assert after.revision == before.revision + 1 and after.adapter is not before.adapter
    async with hub.engine.begin() as conn:
        await update_channel(conn, hub.secrets, ws.sms_channel_id, ChannelChange(active=False))
    clock.now += 2
    with pytest.raises(UnknownChannel):
        await directory.by_webhook_key(key)
    with pytest.raises(UnknownChannel):
        await directory.get(ws.sms_channel_id)
    await directory.close()


async def test_keys_that_are_not_webhook_keys_are_not_looked_up(hub: Hub) -> None:
    directory = ChannelDirectory(hub.engine, hub.secrets, TEST_BASE_URL)
    lookups = _count_statements(hub, "webhook_key")
    for key in ("1", "٢" * 43, "a" * 44, "a/" * 20, "\x00" * 43):
        with pytest.raises(UnknownChannel):
            await directory.by_webhook_key(key)
    assert lookups == []
