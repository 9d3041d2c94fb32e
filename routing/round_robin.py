"""Round robin among available agents under their capacity, safe under concurrent ingest."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncConnection

from routing.pools import AgentPools
from timeline.domain import PoolCursor, RoutingChoice, RoutingNeed


class RoundRobinRouter:
    """Hands each conversation to the next available agent after the last one served
    (implements timeline.domain.Router).

    The pool's cursor is locked for the rest of the transaction, so concurrent batches take
    turns: no conversation is assigned twice and no agent goes past their capacity. A pool where
    nobody has room is not locked: its conversations wait unassigned, and concurrent batches
    (every batch of a busy team at capacity) do not queue behind each other's commits.
    """

    def __init__(self, pools: AgentPools) -> None:
        self._pools = pools

    async def choose(self, conn: AsyncConnection, needs: list[RoutingNeed]) -> RoutingChoice:
        by_pool: dict[tuple[int, int | None], list[int]] = defaultdict(list)
        for position, need in enumerate(needs):
            by_pool[(need.workspace_id, need.team_id)].append(position)
        agents: list[int | None] = [None] * len(needs)
        cursors: list[PoolCursor] = []
        for (workspace_id, team_id), positions in sorted(by_pool.items(), key=_pool_order):
            if not await self._pools.free_capacity(conn, workspace_id, team_id):
                continue  # nobody to choose, as if this ran before the others: no lock needed
            last_agent_id = first_agent_id = await self._pools.lock_cursor(
                conn, workspace_id, team_id
            )
            # As of holding the lock.
            free = await self._pools.free_capacity(conn, workspace_id, team_id)
            for position in positions:
                preferred = needs[position].preferred_agent_id
                agent_id = _pick(free, last_agent_id, preferred)
                if agent_id is None:
                    break
                free[agent_id] -= 1
                if preferred != agent_id:
                    last_agent_id = agent_id
                agents[position] = agent_id
            if last_agent_id != first_agent_id:
                cursors.append(PoolCursor(workspace_id, team_id, last_agent_id))
        return RoutingChoice(agents, cursors)


def _pool_order(item: tuple[tuple[int, int | None], object]) -> tuple[int, int]:
    (workspace_id, team_id), _ = item
    return (workspace_id, team_id or 0)


def _pick(free: dict[int, int], last_agent_id: int, preferred: int | None) -> int | None:
    if preferred is not None and free.get(preferred, 0) > 0:
        return preferred
    candidates = sorted(agent for agent, slots in free.items() if slots > 0)
    if not candidates:
        return None
    return next((agent for agent in candidates if agent > last_agent_id), candidates[0])
