"""A pull channel's batch is parsed in a worker thread: the serving process goes on answering
its webhooks while a batch of mail is parsed."""

from __future__ import annotations

import asyncio

import pytest

from channels.base import SyncCounts
from hub import pull
from hub.context import Hub
from hub.pull import ChannelPullSink
from tests.channels.telegram.accounts import telegram_channel
from tests.held_calls import HeldCall
from tests.hub.test_pull_cancel import telegram_updates
from tests.workspace import seed_workspace


async def test_the_event_loop_runs_while_a_batch_is_parsed(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await seed_workspace(hub)
    channel = await telegram_channel(
        hub, ws.id, provider_base_url="http://127.0.0.1:9", transport="polling"
    )
    held_parse = HeldCall(pull.parse_payload)
    monkeypatch.setattr(pull, "parse_payload", held_parse)
    committing = asyncio.create_task(
        ChannelPullSink(hub, channel).commit(telegram_updates(1_000), {"offset": 1_000})
    )
    assert await held_parse.reached()
    await asyncio.sleep(0.01)  # the loop runs: other requests would be answered
    held_parse.release()
    assert await committing == SyncCounts(imported=3)
    assert held_parse.outcomes == [True], "the parse held the event loop until its hold ran out"
