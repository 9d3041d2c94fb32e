"""Agents' loads stay equal to the unresolved conversations they hold, whatever changes hands,
and every assignment is told once (`conversation.assigned`), whoever made it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.context import Hub
from hub.teams import create_team
from tests.timeline.conversation_helpers import (
    T0,
    admin,
    assigned,
    assignees,
    committed,
    let_time_pass,
    loads_and_holdings,
    text,
)
from tests.workspace import seed_workspace
from timeline.models.people import Availability


async def test_loads_follow_every_change_of_hands_and_status(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=3, capacity=5)
    first, second, third = ws.agent_ids
    service, actor = hub.conversations, admin(ws)
    ids = [await text(hub, ws, f"+1415555010{n}", f"SM{n}") for n in range(4)]
    async with hub.engine.begin() as conn:
        team = await create_team(conn, ws.id, "Billing", [third])
    later = datetime.now(UTC) + timedelta(hours=1)

    async def loads_match() -> None:
        loads, held = await loads_and_holdings(hub, ws)
        assert loads == held

    await loads_match()
    steps = [
        lambda conn: service.assign(conn, actor, ids[0], second),
        lambda conn: service.assign(conn, actor, ids[0], second),
        lambda conn: service.assign(conn, actor, ids[1], None),
        lambda conn: service.transfer(conn, actor, ids[2], team.id),
        lambda conn: service.resolve(conn, actor, ids[0]),
        lambda conn: service.assign(conn, actor, ids[0], first),  # resolved: counts for nobody
        lambda conn: service.reopen(conn, actor, ids[0]),
        lambda conn: service.snooze(conn, actor, ids[0], later),
        lambda conn: service.mark_pending(conn, actor, ids[3]),
        lambda conn: service.resolve(conn, actor, ids[3]),  # pending counted until resolved
        lambda conn: service.snooze(conn, actor, ids[1], later),  # nobody's, snoozed
        lambda conn: service.resolve(conn, actor, ids[2]),
        lambda conn: service.transfer(conn, actor, ids[2], None),  # resolved: routed to nobody
    ]
    for step in steps:
        await committed(hub, step)
        await loads_match()
    await let_time_pass(hub, ids[0], ids[1])
    woken = await committed(hub, service.wake_due)
    assert woken.conversation_ids == [ids[0], ids[1]]
    await loads_match()
    await text(hub, ws, "+14155550103", "SM9", at=T0 + timedelta(hours=1))  # reopens ids[3]
    await loads_match()
    loads, _ = await loads_and_holdings(hub, ws)
    assert sum(loads.values()) == 3  # ids[0], ids[1] and ids[3]; ids[2] is resolved


async def test_every_assignment_is_told_once_whoever_makes_it(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2, capacity=5)
    first, second = ws.agent_ids
    service, actor = hub.conversations, admin(ws)
    for agent_id in ws.agent_ids:
        await committed(
            hub,
            lambda conn, a=agent_id: service.set_availability(conn, actor, a, Availability.AWAY),
        )
    ids = [await text(hub, ws, f"+1415555010{n}", f"SM{n}") for n in range(3)]
    assert await assignees(hub, *ids) == [None, None, None]

    told = []
    available = await committed(
        hub, lambda conn: service.set_availability(conn, actor, first, Availability.AVAILABLE)
    )
    told += assigned(available.events)
    assert assigned(available.events) == [(c, first) for c in ids]
    changes = [
        lambda conn: service.assign(conn, actor, ids[0], second),
        lambda conn: service.transfer(conn, actor, ids[1], None),
        lambda conn: service.resolve(conn, actor, ids[2]),
        lambda conn: service.reopen(conn, actor, ids[2]),
    ]
    for change in changes:
        told += assigned((await committed(hub, change)).events)
    await committed(hub, lambda conn: service.assign(conn, actor, ids[1], None))
    await committed(
        hub,
        lambda conn: service.snooze(conn, actor, ids[1], datetime.now(UTC) + timedelta(hours=1)),
    )
    await let_time_pass(hub, ids[1])
    woken = await committed(hub, service.wake_due)
    told += assigned(woken.events)

    assert told == [
        (ids[0], first),
        (ids[1], first),
        (ids[2], first),
        (ids[0], second),
        (ids[1], first),  # second is away: routing hands it to the one available agent
        (ids[2], first),  # reopened: back to its last agent, who has room
        (ids[1], first),  # woken with nobody: routed
    ]
    assert await assignees(hub, *ids) == [second, first, first]
