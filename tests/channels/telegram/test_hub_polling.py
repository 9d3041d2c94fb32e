"""Polling through the hub's pull sink: killed between fetching and committing, or between
committing and confirming, the next run loses no update and doubles none."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from channels.base import SyncCounts
from hub.channel_directory import Channel
from hub.context import Hub
from hub.pull import ChannelPullSink, pull_once, puller
from tests.workspace import seed_workspace
from timeline.events import RawPayload
from timeline.models import ChannelCursor, TimelineEvent

from .accounts import telegram_channel
from .fake_bot_api import FakeBotApi

FIXTURES = Path(__file__).with_name("fixtures")
SENT = ("text", "photo_caption", "voice", "reply", "contact_own")


class Killed(Exception):
    """The process died here."""


class DyingSink(ChannelPullSink):
    """The hub's sink, dying before its commit or right after it."""

    def __init__(self, hub: Hub, channel: Channel, *, after_commit: bool) -> None:
        super().__init__(hub, channel)
        self._after_commit = after_commit

    async def commit(self, payloads: list[RawPayload], cursor: Mapping[str, Any]) -> SyncCounts:
        if self._after_commit:
            await super().commit(payloads, cursor)
        raise Killed("the hub was killed")


async def _external_ids(hub: Hub, channel: Channel) -> list[str]:
    async with hub.engine.connect() as conn:
        rows = await conn.execute(
            select(TimelineEvent.external_id).where(
                TimelineEvent.channel_account_id == channel.context.channel_account_id
            )
        )
        return sorted(rows.scalars())


@pytest.mark.parametrize("after_commit", [False, True], ids=["before-commit", "after-commit"])
async def test_a_poller_killed_mid_batch_loses_nothing_and_doubles_nothing(
    hub: Hub, fake_bot_api: FakeBotApi, after_commit: bool
) -> None:
    ws = await seed_workspace(hub)
    root = fake_bot_api.base_url.removesuffix("/bot")
    channel = await telegram_channel(hub, ws.id, provider_base_url=root, transport="polling")
    pushed = [
        fake_bot_api.push_update(
            json.loads((FIXTURES / f"message_received__{name}.json").read_bytes())
        )
        for name in SENT
    ]
    with pytest.raises(Killed):
        await puller(channel).pull(DyingSink(hub, channel, after_commit=after_commit), once=True)
    stored_before = await _external_ids(hub, channel)
    assert len(stored_before) == (len(SENT) if after_commit else 0)

    restarted = await hub.channels.get(channel.context.channel_account_id)
    counts = await pull_once(hub, restarted)
    # Killed after its commit, the poller starts past the batch: not even a duplicate to absorb.
    assert counts == SyncCounts(imported=0 if after_commit else len(SENT))
    stored = await _external_ids(hub, channel)
    assert len(stored) == len(set(stored)) == len(SENT)
    assert await pull_once(hub, restarted) == SyncCounts()
    async with hub.engine.connect() as conn:
        cursor = (await conn.execute(select(ChannelCursor.position))).scalar_one()
    assert cursor == {"offset": max(update["update_id"] for update in pushed if update) + 1}
    assert fake_bot_api.updates == []  # confirmed to Telegram by the last getUpdates
