"""Round robin among available agents under their capacity, safe under concurrent ingest."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Integer, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.models import RoutingCursor
from timeline.bulk import RowsUpdate, UpdateRows, update_rows
from timeline.domain import Assignment, RoutingRequest
from timeline.models import Conversation, TeamMember, User
from timeline.models.base import UtcDateTime
from timeline.models.people import Availability
from timeline.sql import fetch_rows, insert_or_lock

cursors = RoutingCursor.__table__
users = User.__table__
members = TeamMember.__table__
conversations = Conversation.__table__

_CURSOR = (cursors.c.workspace_id == bindparam("cursor_workspace")) & (
    cursors.c.pool == bindparam("cursor_pool")
)
_LAST_AGENT = list(cursors.columns).index(cursors.c.last_agent_id)  # in insert_or_lock's rows
_MOVE_CURSOR = update(cursors).where(_CURSOR).values(last_agent_id=bindparam("last_agent"))
_FREE_AGENTS = (
    select(users.c.id, users.c.capacity, users.c.open_conversations)
    .where(users.c.workspace_id == bindparam("workspace_id"))
    .where(users.c.availability == Availability.AVAILABLE)
    .where(users.c.open_conversations < users.c.capacity)
)
_FREE_TEAM_AGENTS = _FREE_AGENTS.join_from(users, members, members.c.user_id == users.c.id).where(
    members.c.team_id == bindparam("team_id")
)
_ASSIGN = RowsUpdate(
    conversations,
    column="id",
    key="conversation_id",
    types={"conversation_id": BigInteger(), "agent_id": BigInteger(), "now": UtcDateTime()},
    values=lambda p: {"assignee_id": p.agent_id, "updated_at": p.now},
)
_ADD_LOAD = RowsUpdate(
    users,
    column="id",
    key="agent_id",
    types={"agent_id": BigInteger(), "count": Integer()},
    values=lambda p: {"open_conversations": users.c.open_conversations + p.count},
)


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
        last_agent_id = first_agent_id = await _lock_cursor(conn, workspace_id, pool)
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
        if last_agent_id != first_agent_id:
            await fetch_rows(
                conn,
                _MOVE_CURSOR,
                {
                    "cursor_workspace": workspace_id,
                    "cursor_pool": pool,
                    "last_agent": last_agent_id,
                },
            )
        await _assign(conn, assignments)
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
    (row,) = await fetch_rows(
        conn,
        insert_or_lock(conn, cursors),
        {"workspace_id": workspace_id, "pool": pool, "last_agent_id": 0},
    )
    return row[_LAST_AGENT]


async def _free_capacity(
    conn: AsyncConnection, workspace_id: int, team_id: int | None
) -> dict[int, int]:
    if team_id is None:
        rows = await fetch_rows(conn, _FREE_AGENTS, {"workspace_id": workspace_id})
    else:
        rows = await fetch_rows(
            conn, _FREE_TEAM_AGENTS, {"workspace_id": workspace_id, "team_id": team_id}
        )
    return {agent_id: capacity - load for agent_id, capacity, load in rows}


async def _assign(conn: AsyncConnection, assignments: list[Assignment]) -> None:
    if not assignments:
        return
    now = datetime.now(UTC)
    per_agent: dict[int, int] = defaultdict(int)
    for assignment in assignments:
        per_agent[assignment.agent_id] += 1
    await update_rows(
        conn,
        UpdateRows(
            _ASSIGN,
            [
                {"conversation_id": a.conversation_id, "agent_id": a.agent_id, "now": now}
                for a in sorted(assignments, key=lambda a: a.conversation_id)
            ],
        ),
        UpdateRows(
            _ADD_LOAD,
            [{"agent_id": agent, "count": count} for agent, count in sorted(per_agent.items())],
        ),
    )
