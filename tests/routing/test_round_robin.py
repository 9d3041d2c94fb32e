"""Round robin's locking (routing/round_robin.py) on PostgreSQL: a pool is locked only to choose."""

from __future__ import annotations

import pytest
from asyncpg.exceptions import LockNotAvailableError
from sqlalchemy import text

from hub.context import Hub
from routing.round_robin import RoundRobinRouter
from tests.workspace import seed_workspace
from timeline.domain import RoutingNeed

LOCK_TIMEOUT = text("SET LOCAL lock_timeout = '300ms'")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_pool_where_nobody_has_room_is_not_locked(hub: Hub) -> None:
    """Batches of a team at capacity do not queue behind each other's commits."""
    ws = await seed_workspace(hub, agents=2, capacity=0)
    router = RoundRobinRouter()
    async with hub.engine.begin() as first, hub.engine.begin() as second:
        chosen = await router.choose(first, [RoutingNeed(ws.id)])
        await second.execute(LOCK_TIMEOUT)
        chosen_meanwhile = await router.choose(second, [RoutingNeed(ws.id)])
    assert chosen.agents == chosen_meanwhile.agents == [None]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_pool_with_room_is_locked_until_the_choice_commits(hub: Hub) -> None:
    ws = await seed_workspace(hub, agents=2, capacity=1)
    router = RoundRobinRouter()
    async with hub.engine.begin() as first:
        chosen = await router.choose(first, [RoutingNeed(ws.id)])
        with pytest.raises(LockNotAvailableError):
            async with hub.engine.begin() as second:
                await second.execute(LOCK_TIMEOUT)
                await router.choose(second, [RoutingNeed(ws.id)])
    assert chosen.agents[0] in ws.agent_ids
