"""A pull channel's batch is parsed in a worker thread: the serving process goes on answering
its webhooks while a batch of mail is parsed."""

from __future__ import annotations

import asyncio
import threading

import pytest

from channels.base import SyncCounts
from hub import pull
from hub.context import Hub
from hub.pull import ChannelPullSink
from tests.channels.telegram.accounts import telegram_channel
from tests.hub.test_pull_cancel import telegram_updates
from tests.workspace import seed_workspace

HELD_SECONDS = 5


async def test_the_event_loop_runs_while_a_batch_is_parsed(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await seed_workspace(hub)
    channel = await telegram_channel(
        hub, ws.id, provider_base_url="http://127.0.0.1:9", transport="polling"
    )
    parse = pull.parse_payload
    parsing, released = threading.Event(), threading.Event()
    outcomes: list[bool] = []

    def held_parse(*args: object) -> object:
        """Holds the first parse until the test lets it go; on the event loop's thread nothing
        else would run meanwhile, the test included, and the hold would run out instead."""
        if not parsing.is_set():
            parsing.set()
            outcomes.append(released.wait(HELD_SECONDS))
        return parse(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pull, "parse_payload", held_parse)
    committing = asyncio.create_task(
        ChannelPullSink(hub, channel).commit(telegram_updates(1_000), {"offset": 1_000})
    )
    assert await asyncio.to_thread(parsing.wait, HELD_SECONDS)
    await asyncio.sleep(0.01)  # the loop runs: other requests would be answered
    released.set()
    assert await committing == SyncCounts(imported=3)
    assert outcomes == [True], "the parse held the event loop until its hold ran out"
