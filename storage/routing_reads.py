"""What the router reads of its pools: the free agents, the locked cursor (routing.pools)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sql import fetch_rows, insert_or_lock
from timeline.models import RoutingCursor, TeamMember, User
from timeline.models.people import Availability

cursors = RoutingCursor.__table__
users = User.__table__
members = TeamMember.__table__

_LAST_AGENT = list(cursors.columns).index(cursors.c.last_agent_id)  # in insert_or_lock's rows
_FREE_AGENTS = (
    select(users.c.id, users.c.capacity, users.c.open_conversations)
    .where(users.c.workspace_id == bindparam("workspace_id"))
    .where(users.c.availability == Availability.AVAILABLE)
    .where(users.c.open_conversations < users.c.capacity)
)
_FREE_TEAM_AGENTS = _FREE_AGENTS.join_from(users, members, members.c.user_id == users.c.id).where(
    members.c.team_id == bindparam("team_id")
)


def pool_key(team_id: int | None) -> str:
    """The pool's name in `routing_cursors`: a team's, or the whole workspace's."""
    return f"team:{team_id}" if team_id else "workspace"


class StoredPools:
    """Reads on the driver path (`storage.sql.fetch_rows`), as the ingest's own statements do:
    routing reads between the ingest's lookups and its updates (implements
    routing.pools.AgentPools)."""

    async def free_capacity(
        self, conn: AsyncConnection, workspace_id: int, team_id: int | None
    ) -> dict[int, int]:
        if team_id is None:
            rows = await fetch_rows(conn, _FREE_AGENTS, {"workspace_id": workspace_id})
        else:
            rows = await fetch_rows(
                conn, _FREE_TEAM_AGENTS, {"workspace_id": workspace_id, "team_id": team_id}
            )
        return {agent_id: capacity - load for agent_id, capacity, load in rows}

    async def lock_cursor(
        self, conn: AsyncConnection, workspace_id: int, team_id: int | None
    ) -> int:
        (row,) = await fetch_rows(
            conn,
            insert_or_lock(conn, cursors),
            {"workspace_id": workspace_id, "pool": pool_key(team_id), "last_agent_id": 0},
        )
        return row[_LAST_AGENT]
