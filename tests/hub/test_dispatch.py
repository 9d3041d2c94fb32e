"""Listeners hear the log after commit, at least once (hub/dispatch.py): a failure leaves the
cursor where it was and the events come again; a crash between a listener's writes and its
cursor loses both, so the facts never double; one process at a time runs a listener; the
embedded hub runs them, and with Redis the workers do, woken by the bus."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.config import Settings
from hub.context import Hub
from hub.dispatch import Dispatcher, LeaseLost
from hub.models import ListenerCursor
from reports.models import CustomerWait
from reports.response_times import RESPONSE_TIMES, keep_response_times
from tests.cancelling import cancel_throughout
from tests.conftest import TEST_SECRET_KEY
from tests.hub.test_cli import SWITCHBOARD
from tests.reports.test_response_times import reply
from tests.timeline.conversation_helpers import T0, text
from tests.workspace import seed_workspace
from timeline.domain import DomainEvent, Listener, LoggedEvent
from timeline.event_log import last_position, record

CUSTOMER = "+14155550123"


class Recording:
    """A listener's handler that records what it heard, failing the first `failures` times."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.heard: list[list[int]] = []

    async def __call__(self, conn: AsyncConnection, events: list[LoggedEvent]) -> None:
        self.heard.append([event.id for event in events])
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the listener failed")


async def cursor(hub: Hub, name: str) -> int | None:
    async with hub.engine.connect() as conn:
        return await conn.scalar(
            select(ListenerCursor.position).where(ListenerCursor.listener == name)
        )


async def waits(hub: Hub) -> int:
    async with hub.engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(CustomerWait)) or 0)


async def test_a_failed_listener_hears_the_same_events_again_and_its_cursor_waits(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    await text(hub, ws, CUSTOMER, "SM1")
    await text(hub, ws, CUSTOMER, "SM2")
    handler = Recording(failures=1)
    listener = Listener("test.recording", frozenset({"timeline.event_appended"}), handler)
    dispatcher = Dispatcher(hub.engine, hub.bus, [listener])
    async with hub.engine.connect() as conn:
        newest = await last_position(conn)

    with pytest.raises(RuntimeError):
        await dispatcher.run_once(listener)
    assert not await cursor(hub, listener.name)
    assert await dispatcher.run_once(listener) is False  # nothing more after this batch
    assert handler.heard[0] == handler.heard[1] and len(handler.heard[0]) == 2
    assert await cursor(hub, listener.name) == newest
    assert await dispatcher.run_once(listener) is False
    assert len(handler.heard) == 2


async def test_a_crash_between_the_facts_and_the_cursor_keeps_neither(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1", at=T0)
    await reply(hub, ws, conversation_id)

    async def keep_then_crash(conn: AsyncConnection, events: list[LoggedEvent]) -> None:
        await keep_response_times(conn, events)
        assert await waits_in(conn) == 1  # written, not yet committed
        raise ConnectionError("the process died before moving the cursor")

    crashing = Listener(RESPONSE_TIMES.name, RESPONSE_TIMES.types, keep_then_crash)
    dispatcher = Dispatcher(hub.engine, hub.bus, [RESPONSE_TIMES])
    with pytest.raises(ConnectionError):
        await dispatcher.run_once(crashing)
    assert await waits(hub) == 0 and not await cursor(hub, RESPONSE_TIMES.name)
    await dispatcher.run_once(RESPONSE_TIMES)
    await dispatcher.run_once(RESPONSE_TIMES)
    assert await waits(hub) == 1


async def first_pass_done(hub: Hub) -> None:
    """Until the listener has taken its lease and found the log read to its end."""
    async with asyncio.timeout(30):
        while await cursor(hub, RESPONSE_TIMES.name) is None:
            await asyncio.sleep(0.05)


async def waits_in(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.count()).select_from(CustomerWait)) or 0)


async def test_one_process_at_a_time_runs_a_listener(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await text(hub, ws, CUSTOMER, "SM1")
    ours, theirs = Recording(), Recording()
    types = frozenset({"timeline.event_appended"})
    here = Dispatcher(hub.engine, hub.bus, [Listener("test.one", types, ours)])
    there = Dispatcher(hub.engine, hub.bus, [Listener("test.one", types, theirs)])
    await here.run_once(Listener("test.one", types, ours))
    await text(hub, ws, CUSTOMER, "SM2")
    assert await there.run_once(Listener("test.one", types, theirs)) is False
    await here.run_once(Listener("test.one", types, ours))
    assert (len(ours.heard), theirs.heard) == (2, [])
    await here.stop()  # gives its leases up: the other process takes over at once
    await text(hub, ws, CUSTOMER, "SM3")
    await there.run_once(Listener("test.one", types, theirs))
    assert len(theirs.heard) == 1


async def test_the_embedded_hub_runs_its_listeners_as_soon_as_a_change_commits(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    await hub.start()
    await first_pass_done(hub)
    await text(hub, ws, CUSTOMER, "SM1")
    for _ in range(40):  # 2 s, within the catch-up interval (5 s): the bus woke it
        if await waits(hub) == 1:
            break
        await asyncio.sleep(0.05)
    assert await waits(hub) == 1


async def test_with_redis_the_worker_runs_the_listeners_and_serving_processes_do_not(
    settings: Settings, redis_url: str
) -> None:
    hub = Hub(replace(settings, redis_url=redis_url))
    assert hub.dispatcher is None  # a web process with Redis leaves listeners to workers
    try:
        ws = await seed_workspace(hub)
        await hub.start()
        await text(hub, ws, CUSTOMER, "SM1")
        worker = await asyncio.create_subprocess_exec(
            SWITCHBOARD,
            "worker",
            env={
                **os.environ,
                "SWITCHBOARD_DATABASE_URL": settings.database_url,
                "SWITCHBOARD_REDIS_URL": redis_url,
                "SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY,
            },
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            await first_pass_done(hub)
            await text(hub, ws, CUSTOMER, "SM2")  # heard through Redis, not the catch-up
            for _ in range(40):
                if await waits(hub) == 2:
                    break
                await asyncio.sleep(0.05)
            assert await waits(hub) == 2
        finally:
            worker.terminate()
            await worker.wait()
    finally:
        await hub.stop()


async def test_a_process_that_lost_the_lease_during_a_run_keeps_nothing_of_it(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await text(hub, ws, CUSTOMER, "SM1", at=T0)

    async def keep_while_taken_over(conn: AsyncConnection, events: list[LoggedEvent]) -> None:
        await keep_response_times(conn, events)
        await conn.execute(  # meanwhile another process took the listener over
            update(ListenerCursor).values(holder="another process")
        )

    taken_over = Listener(RESPONSE_TIMES.name, RESPONSE_TIMES.types, keep_while_taken_over)
    with pytest.raises(LeaseLost):
        await Dispatcher(hub.engine, hub.bus, [taken_over]).run_once(taken_over)
    assert await waits(hub) == 0 and not await cursor(hub, RESPONSE_TIMES.name)


async def test_a_run_cancelled_at_any_point_moves_the_cursor_whole_or_not_and_loses_nothing(
    hub: Hub,
) -> None:
    """The hub cancels its listeners as it stops: a cancel inside a run's transaction leaves
    the cursor where it was or past the batch, and the connection in the pool."""
    ws = await seed_workspace(hub)
    listener = Listener("test.recording", frozenset({"test.cancelled"}), Recording())
    dispatcher = Dispatcher(hub.engine, hub.bus, [listener])
    positions: list[int | None] = [None]

    async def one_more_event() -> int:
        async with hub.engine.begin() as conn:
            (logged,) = await record(conn, [DomainEvent(ws.id, "test.cancelled", {})])
        return logged.id

    newest = [await one_more_event()]

    async def run(_: int) -> None:
        await dispatcher.run_once(listener)

    async def whole_or_not(point: int) -> None:
        position = await cursor(hub, listener.name)
        assert position in (positions[-1], newest[-1]), f"cursor {position} at point {point}"
        positions.append(position)
        newest.append(await one_more_event())

    await cancel_throughout(hub.engine, run, whole_or_not)
    assert positions[-1] != newest[0], "no cancelled run got to its end"
