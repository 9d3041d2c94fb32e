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

One bad event never stops a listener: after a batch fails, its events are handed one at a
time; one that fails PARK_AFTER times in a row, for a reason that would not pass by itself (a
bug in the handler, data the database refuses; not a lost connection, a deadlock, a timeout,
a network error), is parked (hub.models.ParkedEvent) with its error and the cursor moves past
it. `switchboard listener replay` hands parked events over again (hub.parked_events).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.leases import LISTENER_LEASES, holder_name
from hub.log_text import printable
from hub.models import ListenerCursor, ParkedEvent
from hub.realtime import LocalBus, Subscription
from hub.waiting import finished_within
from storage.sql import refusal
from storage.uninterrupted import to_the_end
from timeline.domain import Listener, LoggedEvent
from timeline.event_log import read_after
from timeline.storable import storable_text

log = logging.getLogger(__name__)
cursors = ListenerCursor.__table__
parked = ParkedEvent.__table__

PARK_AFTER = 3
"""Failures in a row of one event handed alone, after which it is parked."""
PARKED_ERROR_LENGTH = 2000


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

    async def run_once(self, listener: Listener, *, limit: int | None = None) -> bool:
        """Hand the listener the next events after its cursor (up to `limit`, else a batch),
        in one transaction; whether there may be more (False also when another process holds
        its lease). Cancelled meanwhile (the hub stopping), the transaction is finished first."""
        return await to_the_end(self._hand_over(listener, limit or self._batch))

    async def park_next(self, listener: Listener, error: BaseException) -> int | None:
        """Set the next event after the listener's cursor aside, with `error`, and move the
        cursor past it; the event's id (None: nothing to park, or the lease is another's)."""
        return await to_the_end(self._park_next(listener, error))

    async def _hand_over(self, listener: Listener, limit: int) -> bool:
        async with self._engine.begin() as conn:
            position = await self._position(conn, listener)
            if position is None:
                return False
            events = await read_after(conn, position, limit=limit)
            if not events:
                return False
            wanted = [event for event in events if event.type in listener.types]
            if wanted:
                await listener.handle(conn, wanted)
            await self._move(conn, listener, position, events[-1].id)
        return len(events) == limit

    async def _park_next(self, listener: Listener, error: BaseException) -> int | None:
        async with self._engine.begin() as conn:
            position = await self._position(conn, listener)
            if position is None:
                return None
            events = await read_after(conn, position, limit=1)
            if not events:
                return None
            await conn.execute(
                insert(parked).values(
                    listener=listener.name, event_id=events[0].id, error=parked_error(error)
                )
            )
            await self._move(conn, listener, position, events[0].id)
        return events[0].id

    async def _position(self, conn: AsyncConnection, listener: Listener) -> int | None:
        """The listener's cursor, once this process holds (or has taken) its lease."""
        held = await LISTENER_LEASES.take(
            conn, listener.name, holder=self._holder, duration=self._lease, position=0
        )
        if not held:
            return None
        return await conn.scalar(
            select(cursors.c.position).where(cursors.c.listener == listener.name)
        )

    async def _move(
        self, conn: AsyncConnection, listener: Listener, position: int, to: int
    ) -> None:
        moved = await conn.execute(
            update(cursors)
            .where(cursors.c.listener == listener.name)
            .where(cursors.c.holder == self._holder)
            .where(cursors.c.position == position)
            .values(position=to)
        )
        if moved.rowcount != 1:
            raise LeaseLost(listener.name)

    async def _keep_running(self, listener: Listener) -> None:
        wake = self._wakes[listener.name]
        alone = 0  # events still to hand one at a time: the span of a batch that failed
        failures = 0  # of the event handed alone, in a row
        while True:
            wake.clear()
            try:
                while await self.run_once(listener, limit=1 if alone else None):
                    failures, alone = 0, max(alone - 1, 0)
                failures, alone = 0, 0
            except Exception as error:
                if alone:
                    failures += 1
                    told = f"event after its cursor failed {failures} times in a row"
                else:
                    alone = self._batch  # find which event fails
                    told = "batch failed; its events come again one at a time"
                backoff = backoff_seconds(failures, self._catch_up_seconds)
                log.exception("listener %s: %s (next try in %.1f s)", listener.name, told, backoff)
                if failures >= PARK_AFTER and parkable(error):
                    await self._park(listener, error, failures)
                    failures, alone = 0, max(alone - 1, 0)
                    continue
                await asyncio.sleep(backoff)
                continue
            await finished_within(self._catch_up_seconds, wake.wait())

    async def _park(self, listener: Listener, error: BaseException, failures: int) -> None:
        try:
            event_id = await self.park_next(listener, error)
        except Exception:
            log.exception("listener %s: setting its failing event aside failed", listener.name)
            return
        if event_id is not None:
            log.error(
                "listener %s: event %d set aside after %d failures in a row; the events after "
                "it go on (`switchboard listener replay` hands it over again)",
                listener.name,
                event_id,
                failures,
            )

    async def _wake_on_publish(self, subscription: Subscription) -> None:
        while True:
            events = await subscription.next()
            for listener in self._listeners:
                if events is None or _concerns(listener, events):
                    self._wakes[listener.name].set()


def _concerns(listener: Listener, events: list[LoggedEvent]) -> bool:
    return any(event.type in listener.types for event in events)


def backoff_seconds(failures: int, longest: float) -> float:
    """How long a listener waits after `failures` in a row: 0.1 s doubling, at most `longest`
    (the exponent is bounded: past 1,023 failures the float would overflow, and the listener's
    task die)."""
    return min(longest, 0.1 * 2 ** min(failures, 16))


def parkable(error: BaseException) -> bool:
    """Whether a listener's failure would come again by itself (a bug in the handler, data the
    database refuses), rather than pass (a lost connection, a deadlock, a timeout, a network
    error, the lease taken over)."""
    if isinstance(error, LeaseLost | OSError | TimeoutError):
        return False
    if isinstance(error, DBAPIError):
        return refusal(error) is not None
    return True


def parked_error(error: BaseException) -> str:
    """How a parked event's error is kept: its type and message, escaped, bounded, and
    storable (a lone surrogate, which the event's data may hold, has no UTF-8)."""
    return storable_text(printable(f"{type(error).__name__}: {error}", PARKED_ERROR_LENGTH))
