"""Routing's choice written (storage/routing_writes.py) on SQLite and PostgreSQL: assignees,
cursors and loads together; agents' loads as conversations change hands."""

from __future__ import annotations

from hub.context import Hub
from storage.agent_loads import AgentLoadCounter
from storage.routing_reads import StoredPools
from storage.routing_writes import write_choice
from tests.timeline.conversation_helpers import assignees, loads_and_holdings, text
from tests.workspace import seed_workspace
from timeline.domain import Assignment, PoolCursor, RoutingChoice, RoutingRequest


async def test_a_choice_gives_conversations_their_agents_and_moves_cursor_and_loads(
    hub: Hub,
) -> None:
    ws = await seed_workspace(hub, agents=2, capacity=0)  # nobody routed by the ingest
    first, second = ws.agent_ids
    ids = [await text(hub, ws, f"+1415555010{n}", f"SM{n}") for n in range(3)]
    choice = RoutingChoice([second, None, second], [PoolCursor(ws.id, None, second)])
    pools = StoredPools()
    async with hub.engine.begin() as conn:
        assert await pools.lock_cursor(conn, ws.id, None) == 0  # as the router does, first
        made = await write_choice(conn, [RoutingRequest(ws.id, i) for i in ids], choice)
        assert await pools.lock_cursor(conn, ws.id, None) == second
    assert made == [Assignment(ids[0], second), Assignment(ids[2], second)]
    assert await assignees(hub, *ids) == [second, None, second]
    loads, held = await loads_and_holdings(hub, ws)
    assert loads == held == {ws.admin_id: 0, first: 0, second: 2}


async def test_a_hand_over_moves_one_conversation_from_one_load_to_the_other(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2)
    first, second = ws.agent_ids
    counter = AgentLoadCounter()
    async with hub.engine.begin() as conn:
        await counter.hand_over(conn, None, first)
        await counter.hand_over(conn, None, first)
        await counter.hand_over(conn, first, second)
        await counter.hand_over(conn, second, second)
    loads, _ = await loads_and_holdings(hub, ws)
    assert (loads[first], loads[second]) == (1, 1)
