"""What the router reads (storage/routing_reads.py) on SQLite and PostgreSQL: free agents per
pool, and the pool's cursor, created on first use."""

from __future__ import annotations

from hub.context import Hub
from hub.teams import create_team
from storage.bulk import update_rows
from storage.routing_reads import StoredPools
from storage.routing_writes import choice_updates
from tests.workspace import seed_workspace
from timeline.domain import PoolCursor, RoutingChoice


async def test_free_capacity_counts_the_room_of_available_agents_in_the_pool(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=3, capacity=2)
    first, second, third = ws.agent_ids
    pools = StoredPools()
    async with hub.engine.begin() as conn:
        team = await create_team(conn, ws.id, "Billing", [second, third])
        await update_rows(conn, *choice_updates(RoutingChoice([first, second, second])))
        assert await pools.free_capacity(conn, ws.id, None) == {first: 1, third: 2}
        assert await pools.free_capacity(conn, ws.id, team.id) == {third: 2}


async def test_a_pool_cursor_starts_at_nobody_and_reads_where_it_was_moved(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2)
    agent = ws.agent_ids[1]
    pools = StoredPools()
    async with hub.engine.begin() as conn:
        team = await create_team(conn, ws.id, "Billing", [agent])
        assert await pools.lock_cursor(conn, ws.id, team.id) == 0
        await update_rows(
            conn, *choice_updates(RoutingChoice([], [PoolCursor(ws.id, team.id, agent)]))
        )
    async with hub.engine.begin() as conn:
        assert await pools.lock_cursor(conn, ws.id, team.id) == agent
        assert await pools.lock_cursor(conn, ws.id, None) == 0
