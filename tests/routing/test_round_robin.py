"""Round robin (routing/round_robin.py): whom it chooses, what it hands back to write, and its
locking on PostgreSQL (a pool is locked only to choose)."""

from __future__ import annotations

import pytest
from asyncpg.exceptions import LockNotAvailableError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from routing.round_robin import RoundRobinRouter
from tests.workspace import seed_workspace
from timeline.domain import PoolCursor, RoutingChoice, RoutingNeed

LOCK_TIMEOUT = text("SET LOCAL lock_timeout = '300ms'")
WS, TEAM = 1, 7


class Pools:
    """Pools held in memory (routing.pools.AgentPools), for the policy alone; the stored ones
    are tested in tests/storage/test_routing_reads.py."""

    def __init__(self, free: dict[int | None, dict[int, int]], last: int = 0) -> None:
        self.free = free
        self.last = last
        self.locked: list[int | None] = []

    async def free_capacity(
        self, conn: AsyncConnection, workspace_id: int, team_id: int | None
    ) -> dict[int, int]:
        return dict(self.free.get(team_id, {}))

    async def lock_cursor(
        self, conn: AsyncConnection, workspace_id: int, team_id: int | None
    ) -> int:
        self.locked.append(team_id)
        return self.last


async def choose(pools: Pools, *needs: RoutingNeed) -> RoutingChoice:
    return await RoundRobinRouter(pools).choose(None, list(needs))  # type: ignore[arg-type]


async def test_agents_take_turns_after_the_last_one_served_within_their_room() -> None:
    pools = Pools({None: {10: 1, 20: 2, 30: 1}}, last=10)
    choice = await choose(pools, *[RoutingNeed(WS)] * 5)
    assert choice.agents == [20, 30, 10, 20, None]
    assert choice.cursors == [PoolCursor(WS, None, 20)]
    assert choice.loads == {10: 1, 20: 2, 30: 1}


async def test_the_preferred_agent_is_kept_without_moving_the_cursor() -> None:
    pools = Pools({None: {10: 1, 20: 1}}, last=10)
    choice = await choose(pools, RoutingNeed(WS, preferred_agent_id=10))
    assert choice.agents == [10]
    assert choice.cursors == []
    assert choice.loads == {10: 1}


async def test_a_full_pool_is_neither_locked_nor_moved_and_other_pools_go_on() -> None:
    pools = Pools({None: {}, TEAM: {40: 3}})
    choice = await choose(pools, RoutingNeed(WS), RoutingNeed(WS, TEAM), RoutingNeed(WS, TEAM))
    assert choice.agents == [None, 40, 40]
    assert pools.locked == [TEAM]
    assert choice.cursors == [PoolCursor(WS, TEAM, 40)]
    assert choice.loads == {40: 2}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_pool_where_nobody_has_room_is_not_locked(hub: Hub) -> None:
    """Batches of a team at capacity do not queue behind each other's commits."""
    ws = await seed_workspace(hub, agents=2, capacity=0)
    async with hub.engine.begin() as first, hub.engine.begin() as second:
        chosen = await hub.router.choose(first, [RoutingNeed(ws.id)])
        await second.execute(LOCK_TIMEOUT)
        chosen_meanwhile = await hub.router.choose(second, [RoutingNeed(ws.id)])
    assert chosen.agents == chosen_meanwhile.agents == [None]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_pool_with_room_is_locked_until_the_choice_commits(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2, capacity=1)
    async with hub.engine.begin() as first:
        chosen = await hub.router.choose(first, [RoutingNeed(ws.id)])
        with pytest.raises(LockNotAvailableError):
            async with hub.engine.begin() as second:
                await second.execute(LOCK_TIMEOUT)
                await hub.router.choose(second, [RoutingNeed(ws.id)])
    assert chosen.agents[0] in ws.agent_ids
