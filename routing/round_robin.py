"""Round robin among available agents under their capacity, safe under concurrent ingest."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

from sqlalchemy import BigInteger, String, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from routing.load import load_changes
from routing.models import RoutingCursor
from storage.bulk import RowsUpdate, UpdateRows, update_rows
from storage.sql import fetch_rows, insert_or_lock
from timeline.domain import Assignment, RoutingChoice, RoutingNeed, RoutingRequest
from timeline.models import Conversation, TeamMember, User
from timeline.models.base import UtcDateTime
from timeline.models.people import Availability

cursors = RoutingCursor.__table__
users = User.__table__
members = TeamMember.__table__
conversations = Conversation.__table__

_LAST_AGENT = list(cursors.columns).index(cursors.c.last_agent_id)  # in insert_or_lock's rows
_MOVE_CURSORS = RowsUpdate(
    cursors,
    column=("workspace_id", "pool"),
    key=("workspace", "pool_name"),
    types={"workspace": BigInteger(), "pool_name": String(), "last_agent": BigInteger()},
    values=lambda p: {"last_agent_id": p.last_agent},
)
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


class RoundRobinRouter:
    """Hands each conversation to the next available agent after the last one served.

    The pool's cursor row is locked for the rest of the transaction, so concurrent batches take
    turns: no conversation is assigned twice and no agent goes past their capacity. A pool where
    nobody has room is not locked: its conversations wait unassigned, and concurrent batches
    (every batch of a busy team at capacity) do not queue behind each other's commits.
    """

    async def route(
        self, conn: AsyncConnection, requests: list[RoutingRequest]
    ) -> list[Assignment]:
        choice = await self.choose(
            conn,
            [RoutingNeed(r.workspace_id, r.team_id, r.preferred_agent_id) for r in requests],
        )
        assignments = [
            Assignment(request.conversation_id, agent_id)
            for request, agent_id in zip(requests, choice.agents, strict=True)
            if agent_id is not None
        ]
        now = datetime.now(UTC)
        await update_rows(
            conn,
            UpdateRows(
                _ASSIGN,
                [
                    {"conversation_id": a.conversation_id, "agent_id": a.agent_id, "now": now}
                    for a in sorted(assignments, key=lambda a: a.conversation_id)
                ],
            ),
            *choice.writes,
        )
        return assignments

    async def choose(self, conn: AsyncConnection, needs: list[RoutingNeed]) -> RoutingChoice:
        pools: dict[tuple[int, int | None], list[int]] = defaultdict(list)
        for position, need in enumerate(needs):
            pools[(need.workspace_id, need.team_id)].append(position)
        agents: list[int | None] = [None] * len(needs)
        moves: list[dict[str, object]] = []
        for (workspace_id, team_id), positions in sorted(pools.items(), key=_pool_order):
            if not await _free_capacity(conn, workspace_id, team_id):
                continue  # nobody to choose, as if this ran before the others: no lock needed
            pool = f"team:{team_id}" if team_id else "workspace"
            last_agent_id = first_agent_id = await _lock_cursor(conn, workspace_id, pool)
            free = await _free_capacity(conn, workspace_id, team_id)  # as of holding the lock
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
                moves.append(
                    {"workspace": workspace_id, "pool_name": pool, "last_agent": last_agent_id}
                )
        per_agent = Counter(agent_id for agent_id in agents if agent_id is not None)
        return RoutingChoice(agents, [UpdateRows(_MOVE_CURSORS, moves), load_changes(per_agent)])


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
