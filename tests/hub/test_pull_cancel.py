"""A pull channel's reader is cancelled when its channel changes or the hub stops: a cancel
landing at any point of a batch's commit leaves the batch and its cursor stored whole or not at
all, every connection back in the pool, and the hub writing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from channels.base import SyncCounts
from hub.context import Hub
from hub.pull import ChannelPullSink
from tests.cancelling import cancel_throughout
from tests.channels.telegram.accounts import telegram_channel
from tests.workspace import seed_workspace
from timeline.events import RawPayload
from timeline.models import ChannelCursor, TimelineEvent

TEXT = Path(__file__).parents[1] / "channels/telegram/fixtures/message_received__text.json"
BATCH = 3


def telegram_updates(first_id: int) -> list[RawPayload]:
    text: dict[str, Any] = json.loads(TEXT.read_bytes())
    batch = []
    for update_id in range(first_id, first_id + BATCH):
        text["update_id"] = update_id
        text["message"]["message_id"] = update_id
        batch.append(RawPayload("application/json", json.dumps(text).encode()))
    return batch


async def _stored(hub: Hub) -> tuple[int, dict[str, Any] | None]:
    async with hub.engine.connect() as conn:
        events = (await conn.execute(select(func.count()).select_from(TimelineEvent))).scalar_one()
        cursor = (await conn.execute(select(ChannelCursor.position))).scalar_one_or_none()
    return events, cursor


async def test_a_commit_cancelled_at_any_point_is_whole_or_absent_and_loses_no_connection(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    channel = await telegram_channel(
        hub, ws.id, provider_base_url="http://127.0.0.1:9", transport="polling"
    )
    before = [(0, None)]

    async def commit(point: int) -> None:
        offset = 1_000 * (point + 1)
        sink = ChannelPullSink(hub, channel)
        counts = await sink.commit(telegram_updates(offset), {"offset": offset})
        assert counts == SyncCounts(imported=BATCH)

    async def whole_or_absent(point: int) -> None:
        stored, cursor = await _stored(hub)
        offset = 1_000 * (point + 1)
        whole = (stored, cursor) == (before[-1][0] + BATCH, {"offset": offset})
        assert whole or (stored, cursor) == before[-1], f"half a batch at point {point}"
        before.append((stored, cursor))

    await cancel_throughout(hub.engine, commit, whole_or_absent)
    assert before[-1][1] != {"offset": 1_000}, "no cancelled commit got to its end"
