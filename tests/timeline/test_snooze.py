"""Snoozed and pending conversations: set through the service, woken by the scheduler's sweep
once however many processes sweep, opened by the customer's next message."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from hub.context import Hub
from hub.scheduler import wake_snoozed
from tests.timeline.conversation_helpers import (
    T0,
    admin,
    assigned,
    audit_actions,
    committed,
    conversation,
    let_time_pass,
    text,
)
from tests.workspace import seed_workspace
from timeline.conversation_service import find_conversation
from timeline.errors import Conflict, Invalid
from timeline.models import AuditEntry

CUSTOMER = "+14155550123"


def _in(hours: float) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


async def test_a_snoozed_conversation_keeps_its_agent_until_it_wakes(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    until = datetime.now(timezone(timedelta(hours=-5))) + timedelta(hours=2)
    snoozed = await committed(
        hub, lambda conn: hub.conversations.snooze(conn, admin(ws), conversation_id, until)
    )
    assert snoozed.conversation.status == "snoozed"
    assert snoozed.conversation.snoozed_until == until
    assert snoozed.conversation.snoozed_until.tzinfo == UTC
    assert snoozed.conversation.assignee_id is not None
    assert [(e.type, e.data) for e in snoozed.events] == [
        (
            "conversation.snoozed",
            {"conversation_id": conversation_id, "until": until.astimezone(UTC).isoformat()},
        )
    ]
    assert (await audit_actions(hub))[-1] == "conversation.snoozed"
    assert (await committed(hub, hub.conversations.wake_due)).conversation_ids == []
    await let_time_pass(hub, conversation_id)
    woken = await committed(hub, hub.conversations.wake_due)
    assert woken.conversation_ids == [conversation_id]
    assert [e.type for e in woken.events] == ["conversation.woken"]  # its agent keeps it
    after = await conversation(hub, conversation_id)
    assert (after.status, after.snoozed_until) == ("open", None)
    assert (await audit_actions(hub))[-1] == "conversation.woken"


@pytest.mark.parametrize(
    "until",
    [
        datetime.now(UTC) - timedelta(seconds=1),
        datetime(2030, 1, 1),  # no offset: names no moment
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),  # past year 9999 in UTC
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
    ],
)
async def test_a_snooze_must_end_at_a_moment_in_the_future(hub: Hub, until: datetime) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    with pytest.raises(Invalid) as refused:
        await committed(
            hub, lambda conn: hub.conversations.snooze(conn, admin(ws), conversation_id, until)
        )
    assert set(refused.value.fields) == {"until"}
    assert (await conversation(hub, conversation_id)).status == "open"


async def test_a_resolved_conversation_is_neither_snoozed_nor_marked_pending(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    service, actor = hub.conversations, admin(ws)
    await committed(hub, lambda conn: service.resolve(conn, actor, conversation_id))
    for change in [
        lambda conn: service.snooze(conn, actor, conversation_id, _in(1)),
        lambda conn: service.mark_pending(conn, actor, conversation_id),
    ]:
        with pytest.raises(Conflict) as refused:
            await committed(hub, change)
        assert refused.value.code == "resolved"
    assert (await conversation(hub, conversation_id)).status == "resolved"


async def test_pending_waits_on_the_customer_and_reopens_by_hand_or_by_their_message(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    service, actor = hub.conversations, admin(ws)
    await committed(hub, lambda conn: service.snooze(conn, actor, conversation_id, _in(1)))
    pending = await committed(hub, lambda conn: service.mark_pending(conn, actor, conversation_id))
    assert (pending.conversation.status, pending.conversation.snoozed_until) == ("pending", None)
    assert [e.type for e in pending.events] == ["conversation.marked_pending"]
    again = await committed(hub, lambda conn: service.mark_pending(conn, actor, conversation_id))
    assert again.events == []
    reopened = await committed(hub, lambda conn: service.reopen(conn, actor, conversation_id))
    assert reopened.conversation.status == "open"
    assert [e.type for e in reopened.events] == ["conversation.reopened"]  # its agent keeps it
    assert reopened.conversation.assignee_id == pending.conversation.assignee_id
    await committed(hub, lambda conn: service.mark_pending(conn, actor, conversation_id))
    await text(hub, ws, CUSTOMER, "SM2", at=T0 + timedelta(minutes=5))
    assert (await conversation(hub, conversation_id)).status == "open"


async def test_a_customer_wakes_a_snoozed_conversation_and_the_sweep_passes_it_over(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    await committed(
        hub, lambda conn: hub.conversations.snooze(conn, admin(ws), conversation_id, _in(1))
    )
    await text(hub, ws, CUSTOMER, "SM2", at=T0 + timedelta(minutes=5))
    await let_time_pass(hub, conversation_id)
    assert (await committed(hub, hub.conversations.wake_due)).conversation_ids == []
    assert (await conversation(hub, conversation_id)).snoozed_until is not None  # stale
    async with hub.engine.connect() as conn:
        shown = await find_conversation(conn, ws.id, conversation_id)
    assert (shown.status, shown.snoozed_until) == ("open", None)


async def test_a_woken_conversation_with_nobody_goes_to_the_next_agent(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=1)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    service, actor = hub.conversations, admin(ws)
    await committed(hub, lambda conn: service.assign(conn, actor, conversation_id, None))
    await committed(hub, lambda conn: service.snooze(conn, actor, conversation_id, _in(1)))
    await let_time_pass(hub, conversation_id)
    woken = await committed(hub, service.wake_due)
    assert [e.type for e in woken.events] == ["conversation.woken", "conversation.assigned"]
    assert assigned(woken.events) == [(conversation_id, ws.agent_ids[0])]
    assert (await conversation(hub, conversation_id)).assignee_id == ws.agent_ids[0]


async def test_the_running_scheduler_wakes_due_conversations_and_publishes(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, CUSTOMER, "SM1")
    await committed(
        hub, lambda conn: hub.conversations.snooze(conn, admin(ws), conversation_id, _in(1))
    )
    heard = await hub.bus.subscribe()
    await hub.start()
    await let_time_pass(hub, conversation_id)
    [event, *_] = await asyncio.wait_for(heard.next(), timeout=10) or []
    assert (event.type, event.data) == ("conversation.woken", {"conversation_id": conversation_id})
    assert (await conversation(hub, conversation_id)).status == "open"


async def test_sweeps_in_two_processes_at_once_wake_each_conversation_once(hub: Hub) -> None:
    other_process = Hub(hub.settings, pull_channels=False)
    try:
        ws = await seed_workspace(hub, agents=2, capacity=50)
        ids = [await text(hub, ws, f"+141555501{n:02d}", f"SM{n}") for n in range(30)]
        service, actor = hub.conversations, admin(ws)
        for conversation_id in ids:
            await committed(
                hub, lambda conn, c=conversation_id: service.snooze(conn, actor, c, _in(1))
            )
        await let_time_pass(hub, *ids)
        woken = await asyncio.gather(*(wake_snoozed(h) for h in [hub, other_process] * 4))
    finally:
        await other_process.stop()
    assert sum(woken) == len(ids)
    async with hub.engine.connect() as conn:
        told = (
            await conn.execute(
                select(func.count()).where(AuditEntry.action == "conversation.woken")
            )
        ).scalar_one()
    assert told == len(ids)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_sweep_takes_the_due_conversations_another_sweep_does_not_hold(hub: Hub) -> None:
    """Two sweeps' transactions at once never share a conversation. (They do take turns to
    commit: their audit entries join the workspace's one audit chain in turn.)"""
    ws = await seed_workspace(hub)
    ids = [await text(hub, ws, f"+141555501{n:02d}", f"SM{n}") for n in range(5)]
    for conversation_id in ids:
        await committed(
            hub,
            lambda conn, c=conversation_id: hub.conversations.snooze(conn, admin(ws), c, _in(1)),
        )
    await let_time_pass(hub, *ids)

    async def sweep(limit: int) -> list[int]:
        async with hub.engine.begin() as conn:
            return (await hub.conversations.wake_due(conn, limit=limit)).conversation_ids

    first, second = await asyncio.wait_for(asyncio.gather(sweep(3), sweep(3)), timeout=10)
    assert len(first) == 3 or len(second) == 3
    assert sorted(first + second) == ids
