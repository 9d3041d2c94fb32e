"""Runs pull transports (IMAP readers): the PullSink that commits their batches and cursors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.base import MalformedPayload, PullSink, PullTransport, SyncCounts, UnsupportedEvent
from hub.channel_directory import Channel
from timeline.events import RawPayload
from timeline.ingest import IngestRequest
from timeline.models import ChannelAccount, ChannelCursor
from timeline.quarantine import quarantine_payload
from timeline.sql import insert_ignoring_conflicts

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)
cursors = ChannelCursor.__table__


class ChannelPullSink:
    """Commits one channel's fetched payloads, its quarantined ones and its cursor together."""

    def __init__(self, hub: Hub, channel: Channel) -> None:
        self._hub = hub
        self._channel = channel

    async def load_cursor(self) -> Mapping[str, Any] | None:
        async with self._hub.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(cursors.c.position).where(
                        cursors.c.channel_account_id == self._channel.context.channel_account_id
                    )
                )
            ).first()
        return row.position if row else None

    async def commit(self, payloads: list[RawPayload], cursor: Mapping[str, Any]) -> SyncCounts:
        context = self._channel.context
        requests: list[IngestRequest] = []
        rejected: list[tuple[RawPayload, str]] = []
        for raw in payloads:
            try:
                events = self._channel.adapter.parse(raw)
            except UnsupportedEvent as reason:
                log.info(
                    "channel %s: unsupported payload skipped: %s",
                    context.channel_account_id,
                    reason,
                )
                continue
            except MalformedPayload as reason:
                rejected.append((raw, str(reason)))
                continue
            requests.append(IngestRequest(context, raw, events))
        async with self._hub.engine.begin() as conn:
            outcome = await self._hub.pipeline.persist(conn, requests)
            for raw, reason in rejected:
                await quarantine_payload(
                    conn, context.workspace_id, context.channel_account_id, raw, reason
                )
            await _save_cursor(conn, context.workspace_id, context.channel_account_id, dict(cursor))
        await self._hub.pipeline.publish(outcome.domain_events)
        return SyncCounts(outcome.appended, outcome.duplicates, len(rejected))


async def _save_cursor(
    conn: AsyncConnection, workspace_id: int, channel_account_id: int, position: dict[str, Any]
) -> None:
    now = datetime.now(UTC)
    moved = await conn.execute(
        update(cursors)
        .where(cursors.c.channel_account_id == channel_account_id)
        .values(position=position, updated_at=now)
    )
    if moved.rowcount == 0:
        await conn.execute(
            insert_ignoring_conflicts(conn, cursors),
            {
                "channel_account_id": channel_account_id,
                "workspace_id": workspace_id,
                "position": position,
                "updated_at": now,
            },
        )


async def pull_once(hub: Hub, channel: Channel, progress: Any = None) -> SyncCounts:
    """Fetch everything new for one pull channel, commit it, and return the counts."""
    adapter = channel.adapter
    if not isinstance(adapter, PullTransport):
        raise TypeError(f"channel {channel.context.channel_account_id} is not a pull channel")
    sink: PullSink = ChannelPullSink(hub, channel)
    return await adapter.pull(sink, once=True, progress=progress)


class PullRunner:
    """Keeps one long-running reader per active pull channel while the hub serves."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub
        self._tasks: dict[int, asyncio.Task[SyncCounts]] = {}

    async def start(self) -> None:
        async with self._hub.engine.connect() as conn:
            ids = (
                (
                    await conn.execute(
                        select(ChannelAccount.id).where(ChannelAccount.active.is_(True))
                    )
                )
                .scalars()
                .all()
            )
        for channel_id in ids:
            channel = await self._hub.channels.get(channel_id)
            if isinstance(channel.adapter, PullTransport):
                sink = ChannelPullSink(self._hub, channel)
                self._tasks[channel_id] = asyncio.create_task(
                    channel.adapter.pull(sink, once=False), name=f"pull-channel-{channel_id}"
                )

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
