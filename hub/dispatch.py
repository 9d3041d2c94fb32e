"""Delivers the domain-event log to listeners after commit, at least once: each listener runs
in the one process holding its lease, from its cursor, woken by the bus and catching up on a
timer.

A listener's run is one transaction: renew its lease (which locks its cursor row), read the
log after its cursor, hand it the events of its types, and move the cursor past everything
read. The handler's writes and the cursor commit together, so a failure or a crash before the
commit delivers the same events again, and the cursor never passes an event that was not
handled. Log ids ascend in commit order (storage.bulk.append_rows), so reading by position
skips nothing. The bus only says when to look: a publish lost (Redis down, a process killed
between commit and publish) delays a listener until its next catch-up, it loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.leases import LISTENER_LEASES, holder_name
from hub.models import ListenerCursor
from hub.realtime import LocalBus, Subscription
from hub.waiting import finished_within
from storage.uninterrupted import to_the_end
from timeline.domain import Listener, LoggedEvent
from timeline.event_log import read_after

log = logging.getLogger(__name__)
cursors = ListenerCursor.__table__


class LeaseLost(Exception):
    """Another process took the listener over during the run; the run rolls back."""


class Dispatcher:
    """Runs every listener whose lease this process holds (or can take)."""

    def __init__(
        self,
        engine: AsyncEngine,
        bus: LocalBus,
        listeners: Sequence[Listener],
        *,
        lease: timedelta = timedelta(seconds=30),
        catch_up_seconds: float = 5.0,
        batch: int = 500,
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._listeners = list(listeners)
        self._lease = lease
        self._catch_up_seconds = catch_up_seconds
        self._batch = batch
        self._holder = holder_name()
        self._wakes = {listener.name: asyncio.Event() for listener in self._listeners}
        self._tasks: list[asyncio.Task[None]] = []
        self._subscription: Subscription | None = None

    async def start(self) -> None:
        self._subscription = await self._bus.subscribe()
        self._tasks = [asyncio.create_task(self._wake_on_publish(self._subscription))]
        self._tasks += [asyncio.create_task(self._keep_running(each)) for each in self._listeners]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._subscription is not None:
            self._bus.unsubscribe(self._subscription)
            self._subscription = None
        with contextlib.suppress(Exception):  # unreleased, the leases simply expire
            async with self._engine.begin() as conn:
                for listener in self._listeners:
                    await LISTENER_LEASES.release(conn, listener.name, holder=self._holder)

    async def run_once(self, listener: Listener) -> bool:
        """Hand the listener the next events after its cursor, in one transaction; whether
        there may be more (False also when another process holds its lease). Cancelled
        meanwhile (the hub stopping), the transaction is finished first."""
        return await to_the_end(self._hand_over(listener))

    async def _hand_over(self, listener: Listener) -> bool:
        async with self._engine.begin() as conn:
            held = await LISTENER_LEASES.take(
                conn, listener.name, holder=self._holder, duration=self._lease, position=0
            )
            if not held:
                return False
            position = await conn.scalar(
                select(cursors.c.position).where(cursors.c.listener == listener.name)
            )
            events = await read_after(conn, position, limit=self._batch)
            if not events:
                return False
            wanted = [event for event in events if event.type in listener.types]
            if wanted:
                await listener.handle(conn, wanted)
            moved = await conn.execute(
                update(cursors)
                .where(cursors.c.listener == listener.name)
                .where(cursors.c.holder == self._holder)
                .where(cursors.c.position == position)
                .values(position=events[-1].id)
            )
            if moved.rowcount != 1:
                raise LeaseLost(listener.name)
        return len(events) == self._batch

    async def _keep_running(self, listener: Listener) -> None:
        wake = self._wakes[listener.name]
        failures = 0
        while True:
            wake.clear()
            try:
                while await self.run_once(listener):
                    pass
            except Exception:
                failures += 1
                backoff = min(self._catch_up_seconds, 0.1 * 2**failures)
                log.exception(
                    "listener %s failed (%d in a row); its events come again in %.1f s",
                    listener.name,
                    failures,
                    backoff,
                )
                await asyncio.sleep(backoff)
                continue
            failures = 0
            await finished_within(self._catch_up_seconds, wake.wait())

    async def _wake_on_publish(self, subscription: Subscription) -> None:
        while True:
            events = await subscription.next()
            for listener in self._listeners:
                if events is None or _concerns(listener, events):
                    self._wakes[listener.name].set()


def _concerns(listener: Listener, events: list[LoggedEvent]) -> bool:
    return any(event.type in listener.types for event in events)
