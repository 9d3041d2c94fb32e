"""Round robin among available agents under their capacity, safe under concurrent ingest."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.models import RoutingCursor
from timeline.domain import Assignment, RoutingRequest
from timeline.models import Conversation, TeamMember, User
from timeline.models.people import Availability
from timeline.sql import for_update, insert_ignoring_conflicts

cursors = RoutingCursor.__table__
users = User.__table__
members = TeamMember.__table__
conversations = Conversation.__table__


class RoundRobinRouter:
    """Hands each conversation to the next available agent after the last one served.

    The pool's cursor row is locked for the rest of the transaction, so concurrent batches take
    turns: no conversation is assigned twice and no agent goes past their capacity.
    """

    async def route(
        self, conn: AsyncConnection, requests: list[RoutingRequest]
    ) -> list[Assignment]:
        pools: dict[tuple[int, int | None], list[RoutingRequest]] = defaultdict(list)
        for request in requests:
            pools[(request.workspace_id, request.team_id)].append(request)
        assignments: list[Assignment] = []
        for (workspace_id, team_id), pool_requests in sorted(pools.items(), key=_pool_order):
            assignments += await self._route_pool(conn, workspace_id, team_id, pool_requests)
        return assignments

    async def _route_pool(
        self,
        conn: AsyncConnection,
        workspace_id: int,
        team_id: int | None,
        requests: list[RoutingRequest],
    ) -> list[Assignment]:
        pool = f"team:{team_id}" if team_id else "workspace"
        last_agent_id = await _lock_cursor(conn, workspace_id, pool)
        free = await _free_capacity(conn, workspace_id, team_id)
        assignments: list[Assignment] = []
        for request in requests:
            agent_id = _pick(free, last_agent_id, request.preferred_agent_id)
            if agent_id is None:
                break
            free[agent_id] -= 1
            if request.preferred_agent_id != agent_id:
                last_agent_id = agent_id
            assignments.append(Assignment(request.conversation_id, agent_id))
        await _save(conn, workspace_id, pool, last_agent_id, assignments)
        return assignments


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


async def _lock_cursor(conn: AsyncConnection, workspace_id: int, pool: str) -> int:
    await conn.execute(
        insert_ignoring_conflicts(conn, cursors),
        {"workspace_id": workspace_id, "pool": pool, "last_agent_id": 0},
    )
    query = select(cursors.c.last_agent_id).where(
        (cursors.c.workspace_id == workspace_id) & (cursors.c.pool == pool)
    )
    return (await conn.execute(for_update(conn, query))).scalar_one()


async def _free_capacity(
    conn: AsyncConnection, workspace_id: int, team_id: int | None
) -> dict[int, int]:
    query = (
        select(users.c.id, users.c.capacity, users.c.open_conversations)
        .where(users.c.workspace_id == workspace_id)
        .where(users.c.availability == Availability.AVAILABLE)
        .where(users.c.open_conversations < users.c.capacity)
    )
    if team_id is not None:
        query = query.join(members, members.c.user_id == users.c.id).where(
            members.c.team_id == team_id
        )
    rows = await conn.execute(query)
    return {row.id: row.capacity - row.open_conversations for row in rows}


async def _save(
    conn: AsyncConnection,
    workspace_id: int,
    pool: str,
    last_agent_id: int,
    assignments: list[Assignment],
) -> None:
    await conn.execute(
        update(cursors)
        .where((cursors.c.workspace_id == workspace_id) & (cursors.c.pool == pool))
        .values(last_agent_id=last_agent_id)
    )
    now = datetime.now(UTC)
    per_agent: dict[int, int] = defaultdict(int)
    for assignment in assignments:
        per_agent[assignment.agent_id] += 1
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == assignment.conversation_id)
            .values(assignee_id=assignment.agent_id, updated_at=now)
        )
    for agent_id, count in per_agent.items():
        await conn.execute(
            update(users)
            .where(users.c.id == agent_id)
            .values(open_conversations=users.c.open_conversations + count)
        )
