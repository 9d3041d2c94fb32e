"""Agents' availability through the conversation service: who may set it, and the waiting
conversations an agent takes on becoming available, each assignment told."""

from __future__ import annotations

import asyncio

import pytest

from hub.context import Hub
from tests.timeline.conversation_helpers import (
    admin,
    agent,
    assigned,
    assignees,
    audit_actions,
    committed,
    loads_and_holdings,
    text,
)
from tests.workspace import seed_workspace
from timeline.errors import Forbidden
from timeline.models.people import Availability

AWAY, AVAILABLE = Availability.AWAY, Availability.AVAILABLE


async def test_an_agent_who_becomes_available_takes_the_waiting_conversations(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=1, capacity=2)
    (agent_id,) = ws.agent_ids
    service = hub.conversations
    away = await committed(
        hub, lambda conn: service.set_availability(conn, agent(ws, agent_id), agent_id, AWAY)
    )
    assert away.agent.availability == "away"
    assert [(e.type, e.data) for e in away.events] == [
        ("agent.availability_changed", {"agent_id": agent_id, "availability": "away"})
    ]
    ids = [await text(hub, ws, f"+1415555010{n}", f"SM{n}") for n in range(3)]
    back = await committed(
        hub, lambda conn: service.set_availability(conn, agent(ws, agent_id), agent_id, AVAILABLE)
    )
    assert (back.agent.availability, back.agent.open_conversations) == ("available", 2)
    assert [e.type for e in back.events] == [
        "agent.availability_changed",
        "conversation.assigned",
        "conversation.assigned",
    ]
    assert assigned(back.events) == [(ids[0], agent_id), (ids[1], agent_id)]  # oldest first
    assert await assignees(hub, *ids) == [agent_id, agent_id, None]  # up to capacity
    assert (await audit_actions(hub))[-2:] == ["agent.availability", "agent.availability"]


async def test_setting_the_same_availability_again_changes_nothing(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=1)
    (agent_id,) = ws.agent_ids
    before = await audit_actions(hub)
    unchanged = await committed(
        hub, lambda conn: hub.conversations.set_availability(conn, admin(ws), agent_id, AVAILABLE)
    )
    assert unchanged.events == [] and await audit_actions(hub) == before


async def test_agents_set_their_own_availability_managers_anyones(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2)
    first, second = ws.agent_ids
    service = hub.conversations
    with pytest.raises(Forbidden):
        await committed(
            hub, lambda conn: service.set_availability(conn, agent(ws, first), second, AWAY)
        )
    changed = await committed(
        hub, lambda conn: service.set_availability(conn, admin(ws), second, AWAY)
    )
    assert changed.agent.id == second and changed.agent.availability == "away"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_waiting_conversation_taken_meanwhile_stays_with_whoever_took_it(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub, agents=2)
    first, second = ws.agent_ids
    service = hub.conversations
    for agent_id in ws.agent_ids:
        await committed(
            hub, lambda conn, a=agent_id: service.set_availability(conn, admin(ws), a, AWAY)
        )
    conversation_id = await text(hub, ws, "+14155550100", "SM0")
    async with hub.engine.begin() as taking:
        await service.assign(taking, agent(ws, second), conversation_id, second)
        arriving = asyncio.create_task(
            committed(hub, lambda conn: service.set_availability(conn, admin(ws), first, AVAILABLE))
        )
        await asyncio.sleep(0.3)
        assert not arriving.done()  # it waits for the conversation
    arrived = await arriving
    assert assigned(arrived.events) == []
    assert await assignees(hub, conversation_id) == [second]
    loads, held = await loads_and_holdings(hub, ws)
    assert loads == held
