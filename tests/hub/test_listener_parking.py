"""One bad event never stops a listener (hub/dispatch.py): an event its handler fails on again
and again is parked with its error and the events after it are heard; a failure that may pass
(a lost connection) parks nothing; `switchboard listener replay` hands parked events over
again (hub/parked_events.py)."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.dispatch import PARK_AFTER, Dispatcher, backoff_seconds
from hub.models import ListenerCursor, ParkedEvent
from hub.parked_events import Replayed, list_parked, replay_parked
from reports.response_times import RESPONSE_TIMES
from tests.hub.test_cli import run
from tests.workspace import seed_workspace
from timeline.domain import DomainEvent, Listener, LoggedEvent
from timeline.event_log import last_position, record

ITEM = "test.item"


class Handler:
    """Hears items, failing on a poisoned one with `error` (as long as `poisoned`), or on any
    with `flaky` the first `flaky_times` times; remembers what it took, in order."""

    def __init__(self, error: Exception | None = None, flaky_times: int = 0) -> None:
        self.error = error or ValueError("a poisoned item")
        self.poisoned = True
        self.flaky_times = flaky_times
        self.calls = 0
        self.taken: list[int] = []

    async def __call__(self, conn: AsyncConnection, events: list[LoggedEvent]) -> None:
        self.calls += 1
        if self.calls <= self.flaky_times:
            raise self.error
        if self.poisoned and any(event.data.get("poison") for event in events):
            raise self.error
        self.taken.extend(event.id for event in events)


async def _log_items(hub: Hub, workspace_id: int, poisoned: set[int]) -> list[int]:
    async with hub.engine.begin() as conn:
        logged = await record(
            conn,
            [DomainEvent(workspace_id, ITEM, {"n": n, "poison": n in poisoned}) for n in range(6)],
        )
    return [event.id for event in logged]


async def _heard_to_the_end(hub: Hub, listener: Listener) -> None:
    """Run the listener's dispatcher until its cursor reaches the newest event."""
    dispatcher = Dispatcher(hub.engine, hub.bus, [listener], catch_up_seconds=0.2, batch=4)
    async with hub.engine.connect() as conn:
        newest = await last_position(conn)
    await dispatcher.start()
    try:
        async with asyncio.timeout(30):
            while True:
                async with hub.engine.connect() as conn:
                    position = await conn.scalar(
                        select(ListenerCursor.position).where(
                            ListenerCursor.listener == listener.name
                        )
                    )
                if position == newest:
                    return
                await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop()


async def _parked(hub: Hub) -> list[tuple[str, int, str]]:
    async with hub.engine.connect() as conn:
        return [(p.listener, p.event_id, p.error) for p in await list_parked(conn)]


async def test_an_event_that_fails_again_and_again_is_parked_and_the_rest_are_heard(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    ids = await _log_items(hub, ws.id, poisoned={2})
    handler = Handler()
    listener = Listener("test.parking", frozenset({ITEM}), handler)
    await _heard_to_the_end(hub, listener)
    assert handler.taken == [ids[0], ids[1], ids[3], ids[4], ids[5]]
    assert await _parked(hub) == [("test.parking", ids[2], "ValueError: a poisoned item")]
    # Handed alone, it failed PARK_AFTER times before it was set aside (after its batch).
    assert handler.calls >= 1 + PARK_AFTER

    handler.poisoned = False  # the bug fixed
    assert await replay_parked(hub.engine, [listener]) == Replayed(handed=1, failing=0)
    assert handler.taken[-1] == ids[2]
    assert await _parked(hub) == []


async def test_a_replay_that_fails_again_keeps_the_event_parked_with_its_new_error(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    ids = await _log_items(hub, ws.id, poisoned={0, 5})
    handler = Handler()
    listener = Listener("test.parking", frozenset({ITEM}), handler)
    await _heard_to_the_end(hub, listener)
    assert handler.taken == ids[1:5]
    assert [event_id for _, event_id, _ in await _parked(hub)] == [ids[0], ids[5]]
    handler.error = KeyError("still broken")
    assert await replay_parked(hub.engine, [listener]) == Replayed(handed=0, failing=2)
    assert {error for _, _, error in await _parked(hub)} == {"KeyError: 'still broken'"}


async def test_a_failure_that_may_pass_parks_nothing(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    ids = await _log_items(hub, ws.id, poisoned=set())
    handler = Handler(ConnectionResetError("the database went away"), flaky_times=3 * PARK_AFTER)
    listener = Listener("test.parking", frozenset({ITEM}), handler)
    await _heard_to_the_end(hub, listener)
    assert handler.taken == ids
    assert await _parked(hub) == []


async def test_an_error_whose_text_the_database_cannot_store_still_parks_its_event(
    hub: Hub,
) -> None:
    """A handler's error may quote the event's data: a NUL or a lone surrogate (JSON's
    `\\ud800` reads back as one) in the error text must not stop the parking itself."""
    ws = await seed_workspace(hub)
    ids = await _log_items(hub, ws.id, poisoned={1})
    handler = Handler(ValueError("\ud800 and \x00"))
    listener = Listener("test.parking", frozenset({ITEM}), handler)
    await _heard_to_the_end(hub, listener)
    assert handler.taken == [ids[0], *ids[2:]]
    [(_, event_id, error)] = await _parked(hub)
    assert event_id == ids[1]
    assert error == "ValueError: \ufffd and \\x00"


def test_the_backoff_doubles_to_its_longest_however_many_failures_came_before() -> None:
    """Past 1,023 failures (a database away for an hour and a half) the float once overflowed
    and the listener's task died, stopped for good though the cause had passed."""
    assert [backoff_seconds(n, 5.0) for n in (0, 1, 2, 5, 6)] == [0.1, 0.2, 0.4, 3.2, 5.0]
    assert backoff_seconds(1_100, 5.0) == backoff_seconds(10**6, 5.0) == 5.0


async def test_the_command_line_lists_and_replays_parked_events(
    hub: Hub, database_url: str
) -> None:
    ws = await seed_workspace(hub)
    ids = await _log_items(hub, ws.id, poisoned=set())
    async with hub.engine.begin() as conn:
        await conn.execute(
            insert(ParkedEvent.__table__).values(
                listener=RESPONSE_TIMES.name, event_id=ids[0], error="ValueError: a bug"
            )
        )
    listed = run(database_url, "listener", "parked", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["listener"], row["event_id"], row["error"]) == (
        RESPONSE_TIMES.name,
        ids[0],
        "ValueError: a bug",
    )
    replayed = run(database_url, "listener", "replay")
    assert replayed.returncode == 0, replayed.stderr
    assert "handed over 1, still failing 0" in replayed.stdout
    assert await _parked(hub) == []
