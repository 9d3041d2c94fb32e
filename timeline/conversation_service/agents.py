"""Agents and teams as the service reads them: availability, who exists, who is waiting."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.domain import RoutingRequest
from timeline.errors import Invalid, NotFound
from timeline.models import Conversation, ConversationStatus, Team, TeamMember, User
from timeline.models.people import Availability

users = User.__table__
teams = Team.__table__
team_members = TeamMember.__table__
conversations = Conversation.__table__

WAITING_BATCH = 200
"""How many waiting conversations one agent's arrival routes; the rest wait for the next."""


@dataclass(frozen=True, slots=True)
class AgentState:
    id: int
    email: str
    name: str
    role: str
    availability: str
    capacity: int
    open_conversations: int
    """Unresolved conversations assigned to the agent: what counts against `capacity`."""
    deactivated_at: datetime | None


async def find_agent(conn: AsyncConnection, workspace_id: int, agent_id: int) -> AgentState:
    """The workspace's agent; NotFound in any other workspace."""
    row = (
        await conn.execute(
            select(*[users.c[f.name] for f in fields(AgentState)])
            .where(users.c.id == agent_id)
            .where(users.c.workspace_id == workspace_id)
        )
    ).first()
    if row is None:
        raise NotFound("agent")
    return AgentState(**row._mapping)


async def require_agent(conn: AsyncConnection, workspace_id: int, agent_id: int) -> None:
    """Invalid `agent_id` unless the agent works in the workspace (and is not deactivated)."""
    found = await conn.execute(
        select(users.c.id)
        .where(users.c.id == agent_id)
        .where(users.c.workspace_id == workspace_id)
        .where(users.c.deactivated_at.is_(None))
    )
    if found.first() is None:
        raise Invalid({"agent_id": "no such agent in this workspace"})


async def require_team(conn: AsyncConnection, workspace_id: int, team_id: int) -> None:
    """Invalid `team_id` unless the team is the workspace's."""
    if not await _exists(conn, teams, workspace_id, team_id):
        raise Invalid({"team_id": "no such team in this workspace"})


async def team_ids_of(conn: AsyncConnection, user_id: int) -> frozenset[int]:
    """The teams the user is a member of."""
    rows = await conn.execute(
        select(team_members.c.team_id).where(team_members.c.user_id == user_id)
    )
    return frozenset(rows.scalars())


async def set_availability(
    conn: AsyncConnection, agent_id: int, availability: Availability
) -> None:
    await conn.execute(
        update(users).where(users.c.id == agent_id).values(availability=availability)
    )


async def take_held(
    conn: AsyncConnection, workspace_id: int, agent_id: int
) -> list[RoutingRequest]:
    """The agent's unresolved conversations, taken from them (nobody holds them now, and the
    update keeps them locked), in id order, each to be routed to someone else."""
    rows = await conn.execute(
        update(conversations)
        .where(conversations.c.workspace_id == workspace_id)
        .where(conversations.c.assignee_id == agent_id)
        .where(conversations.c.status != ConversationStatus.RESOLVED)
        .values(assignee_id=None, updated_at=datetime.now(UTC))
        .returning(conversations.c.id, conversations.c.team_id)
    )
    held = sorted(rows, key=lambda row: row.id)
    return [RoutingRequest(workspace_id, row.id, row.team_id) for row in held]


async def deactivate(conn: AsyncConnection, agent_id: int) -> bool:
    """Mark the user deactivated and away (routing passes them over); False if they were
    deactivated already."""
    done = await conn.execute(
        update(users)
        .where(users.c.id == agent_id)
        .where(users.c.deactivated_at.is_(None))
        .values(deactivated_at=datetime.now(UTC), availability=Availability.AWAY)
        .returning(users.c.id)
    )
    return done.first() is not None


async def waiting_conversations(conn: AsyncConnection, workspace_id: int) -> list[RoutingRequest]:
    """Open conversations nobody holds, oldest first, locked: one that changes hands meanwhile
    (an agent takes it) is read again once free, and left out."""
    rows = await conn.execute(
        select(conversations.c.id, conversations.c.team_id)
        .where(conversations.c.workspace_id == workspace_id)
        .where(conversations.c.status == ConversationStatus.OPEN)
        .where(conversations.c.assignee_id.is_(None))
        .order_by(conversations.c.id)
        .limit(WAITING_BATCH)
        .with_for_update()
    )
    return [RoutingRequest(workspace_id, row.id, row.team_id) for row in rows]


async def _exists(conn: AsyncConnection, table: Table, workspace_id: int, row_id: int) -> bool:
    found = await conn.execute(
        select(table.c.id).where(table.c.id == row_id).where(table.c.workspace_id == workspace_id)
    )
    return found.first() is not None
