"""Runs pull transports (mailbox readers, chat pollers): the PullSink that commits batches
and cursors, and one reader per channel across all serving processes, by a database lease."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.base import (
    MalformedPayload,
    PullSink,
    PullTransport,
    SyncCounts,
    Transport,
    UnsupportedEvent,
)
from hub.channel_directory import RECHECK_SECONDS, Channel, UnknownChannel
from hub.intake import parse_payload, with_files
from hub.leases import PULL_LEASES, holder_name
from hub.log_text import printable
from storage.sql import insert_ignoring_conflicts, refusal
from storage.uninterrupted import to_the_end
from timeline.events import RawPayload
from timeline.ingest import IngestRequest
from timeline.models import ChannelAccount, ChannelCursor
from timeline.quarantine import quarantine_payload

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)
cursors = ChannelCursor.__table__


class ChannelPullSink:
    """Commits one channel's fetched payloads, its quarantined ones and its cursor together.

    A batch the database refuses (a value it will not store, as it would not again) is taken
    in again payload by payload: each one the database refuses is quarantined with its reason,
    the others are imported, and the cursor moves past them all, so one message can never
    stop a mailbox.
    """

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
        # Parsed in a worker thread: a batch of mail takes up to hundreds of milliseconds of
        # CPU, and on the event loop it held every webhook the serving process was answering.
        requests, rejected = await asyncio.to_thread(self._parse, payloads)
        with_bytes = await asyncio.gather(
            *(with_files(self._channel, request.raw, request.events) for request in requests)
        )
        requests = [
            replace(request, events=events)
            for request, events in zip(requests, with_bytes, strict=True)
        ]
        # A reader is cancelled when its channel changes: what it began to store is stored.
        return await to_the_end(self._store(requests, rejected, cursor))

    async def _store(
        self,
        requests: list[IngestRequest],
        rejected: list[tuple[RawPayload, str]],
        cursor: Mapping[str, Any],
    ) -> SyncCounts:
        try:
            async with self._hub.engine.begin() as conn:
                outcome = await self._hub.pipeline.persist(conn, requests)
                await self._finish(conn, rejected, cursor)
        except Exception as error:
            if refusal(error) is None:
                raise
            log.warning(
                "channel %s: the database refused a batch of %d (%s); taking it in one by one",
                self._channel.context.channel_account_id,
                len(requests),
                printable(refusal(error)),
            )
            return await self._commit_one_by_one(requests, rejected, cursor)
        await self._hub.pipeline.publish(outcome.logged)
        return SyncCounts(outcome.appended, outcome.duplicates, len(rejected))

    def _parse(
        self, payloads: list[RawPayload]
    ) -> tuple[list[IngestRequest], list[tuple[RawPayload, str]]]:
        context = self._channel.context
        requests: list[IngestRequest] = []
        rejected: list[tuple[RawPayload, str]] = []
        for raw in payloads:
            try:
                events = parse_payload(self._channel, raw)
            except UnsupportedEvent as reason:
                log.info(
                    "channel %s: unsupported payload skipped: %s",
                    context.channel_account_id,
                    printable(reason),
                )
                continue
            except MalformedPayload as reason:
                rejected.append((raw, str(reason)))
                continue
            requests.append(IngestRequest(context, raw, events))
        return requests, rejected

    async def _commit_one_by_one(
        self,
        requests: list[IngestRequest],
        rejected: list[tuple[RawPayload, str]],
        cursor: Mapping[str, Any],
    ) -> SyncCounts:
        counts = SyncCounts()
        for request in requests:
            try:
                async with self._hub.engine.begin() as conn:
                    outcome = await self._hub.pipeline.persist(conn, [request])
            except Exception as error:
                why = refusal(error)
                if why is None:
                    raise
                rejected.append((request.raw, f"the database refused it: {why}"))
                continue
            counts += SyncCounts(outcome.appended, outcome.duplicates)
            await self._hub.pipeline.publish(outcome.logged)
        async with self._hub.engine.begin() as conn:
            await self._finish(conn, rejected, cursor)
        return counts + SyncCounts(quarantined=len(rejected))

    async def _finish(
        self,
        conn: AsyncConnection,
        rejected: list[tuple[RawPayload, str]],
        cursor: Mapping[str, Any],
    ) -> None:
        """Quarantine what was refused and move the cursor past the whole batch."""
        context = self._channel.context
        for raw, reason in rejected:
            await quarantine_payload(
                conn, context.workspace_id, context.channel_account_id, raw, reason
            )
        await _save_cursor(conn, context.workspace_id, context.channel_account_id, dict(cursor))


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


class NotPulled(TypeError):
    """The channel receives webhooks; there is nothing to fetch."""


def puller(channel: Channel) -> PullTransport:
    """The channel's adapter as what fetches from its provider; NotPulled if it does not."""
    adapter = channel.adapter
    if channel.transport is not Transport.POLLING or not isinstance(adapter, PullTransport):
        raise NotPulled(f"channel {channel.context.channel_account_id} takes webhooks")
    return adapter


async def pull_once(hub: Hub, channel: Channel, progress: Any = None) -> SyncCounts:
    """Fetch everything new for one pulled channel, commit it, and return the counts."""
    sink: PullSink = ChannelPullSink(hub, channel)
    return await puller(channel).pull(sink, once=True, progress=progress)


class PullRunner:
    """Keeps one long-running reader per active pull channel while the hub serves.

    The active channels are read again every `rescan_seconds`: a mailbox added while serving
    is read from then on, a deactivated one is let go, and one whose account changed (its
    revision rose: credentials rotated, say) is read again with its new settings.

    With several processes serving, only the one holding a channel's lease reads it: the
    others wait, retrying every third of the lease time, and take over once a holder that
    stopped renewing (killed, hung, cut off from the database) lets it expire. The holder
    renews every third of the lease time and stops its reader as soon as a renewal fails.
    """

    def __init__(
        self, hub: Hub, *, lease_seconds: float = 30.0, rescan_seconds: float = RECHECK_SECONDS
    ) -> None:
        self._hub = hub
        self._lease = timedelta(seconds=lease_seconds)
        self._rescan_seconds = rescan_seconds
        self._holder = holder_name()
        self._readers: dict[int, tuple[int, asyncio.Task[None]]] = {}
        """Channel id -> (the revision it is read with, its reader task)."""
        self._passed_over: dict[int, int] = {}
        """Channel id -> the revision found not to pull (or not to build): not looked at
        again until it changes."""
        self._scanner: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._scan()
        self._scanner = asyncio.create_task(self._scan_every(), name="pull-channel-scanner")

    async def stop(self) -> None:
        if self._scanner is not None:
            self._scanner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scanner
            self._scanner = None
        for channel_id in list(self._readers):
            await self._stop_reader(channel_id)

    async def _scan_every(self) -> None:
        while True:
            await asyncio.sleep(self._rescan_seconds)
            try:
                await self._scan()
            except Exception:
                log.exception("looking for pull channels failed; trying again")

    async def _scan(self) -> None:
        async with self._hub.engine.connect() as conn:
            rows = await conn.execute(
                select(ChannelAccount.id, ChannelAccount.revision).where(
                    ChannelAccount.active.is_(True)
                )
            )
            active = {row.id: row.revision for row in rows}
        for channel_id, (revision, _) in list(self._readers.items()):
            if active.get(channel_id) != revision:
                log.info("channel %s deactivated or changed; its reader stops", channel_id)
                await self._stop_reader(channel_id)
        for channel_id, revision in active.items():
            if channel_id not in self._readers and self._passed_over.get(channel_id) != revision:
                await self._start_reader(channel_id, revision)

    async def _start_reader(self, channel_id: int, revision: int) -> None:
        try:
            channel = await self._hub.channels.get(channel_id)
        except UnknownChannel:
            return  # deactivated since the scan read it
        except Exception:
            log.exception("channel %s cannot be built; not read until it changes", channel_id)
            self._passed_over[channel_id] = revision
            return
        try:
            adapter = puller(channel)
        except NotPulled:
            self._passed_over[channel_id] = channel.revision
            return
        task = asyncio.create_task(
            self._read_while_leading(channel, adapter), name=f"pull-channel-{channel_id}"
        )
        self._readers[channel_id] = (channel.revision, task)

    async def _stop_reader(self, channel_id: int) -> None:
        _, task = self._readers.pop(channel_id)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _read_while_leading(self, channel: Channel, adapter: PullTransport) -> None:
        pause = self._lease.total_seconds() / 3
        try:
            while True:
                if await self._take(channel):
                    await self._read_until_lease_lost(channel, adapter, pause)
                await asyncio.sleep(pause)
        finally:
            await self._release(channel)

    async def _read_until_lease_lost(
        self, channel: Channel, adapter: PullTransport, pause: float
    ) -> None:
        channel_id = channel.context.channel_account_id
        log.info("channel %s: reading (lease held by %s)", channel_id, self._holder)
        reader = asyncio.create_task(adapter.pull(ChannelPullSink(self._hub, channel), once=False))
        try:
            while not reader.done():
                await asyncio.wait([reader], timeout=pause)
                if not reader.done() and not await self._take(channel):
                    log.warning("channel %s: lease lost; reader stopped", channel_id)
                    return
            log.error("channel %s: reader ended: %r", channel_id, reader.exception())
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _take(self, channel: Channel) -> bool:
        """Take or renew the lease; a database error counts as not holding it."""
        try:
            async with self._hub.engine.begin() as conn:
                return await PULL_LEASES.take(
                    conn,
                    channel.context.channel_account_id,
                    holder=self._holder,
                    duration=self._lease,
                    workspace_id=channel.context.workspace_id,
                )
        except Exception:
            log.exception("channel %s: lease check failed", channel.context.channel_account_id)
            return False

    async def _release(self, channel: Channel) -> None:
        with contextlib.suppress(Exception):  # unreleased, the lease simply expires
            async with self._hub.engine.begin() as conn:
                await PULL_LEASES.release(
                    conn, channel.context.channel_account_id, holder=self._holder
                )
