"""Agents: who works here, and their availability for assignment."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.api.framework import ApiRoutes, Call
from hub.errors import ApiError, not_found
from hub.web_keys import HUB
from timeline import audit
from timeline.domain import RoutingRequest
from timeline.models import Conversation, ConversationStatus, User

routes = ApiRoutes()
users = User.__table__
conversations = Conversation.__table__
WAITING_BATCH = 200


class AgentOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    availability: Literal["available", "away"]
    capacity: int
    open_conversations: int


class AgentList(BaseModel):
    items: list[AgentOut]


class AvailabilityIn(BaseModel):
    availability: Literal["available", "away"]


@routes.add("GET", "/agents", summary="List agents", tag="agents", response=AgentList)
async def list_agents(call: Call[Any, Any]) -> AgentList:
    async with call.request.app[HUB].reads.connect() as conn:
        rows = await conn.execute(
            select(*[users.c[n] for n in AgentOut.model_fields])
            .where(users.c.workspace_id == call.principal.workspace_id)
            .order_by(users.c.id)
        )
        return AgentList(items=[AgentOut.model_validate(r._mapping) for r in rows])


@routes.add(
    "PUT",
    "/agents/{agent_id}/availability",
    summary="Set an agent available or away",
    tag="agents",
    response=AgentOut,
    body=AvailabilityIn,
)
async def set_availability(call: Call[AvailabilityIn, Any]) -> AgentOut:
    agent_id = call.ids["agent_id"]
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        before = await _agent(conn, call.principal.workspace_id, agent_id)
        if agent_id != call.principal.user_id and not call.principal.manages:
            raise ApiError(403, "forbidden", "agents may only set their own availability")
        await conn.execute(
            update(users).where(users.c.id == agent_id).values(availability=call.body.availability)
        )
        await audit.record(
            conn,
            workspace_id=call.principal.workspace_id,
            actor_user_id=call.principal.user_id,
            action="agent.availability",
            entity_type="user",
            entity_id=agent_id,
            changes={"availability": [before.availability, call.body.availability]},
        )
        if call.body.availability == "available":
            await hub.router.route(conn, await _waiting(conn, call.principal.workspace_id))
        return await _agent(conn, call.principal.workspace_id, agent_id)


async def _agent(conn: AsyncConnection, workspace_id: int, agent_id: int) -> AgentOut:
    row = (
        await conn.execute(
            select(*[users.c[n] for n in AgentOut.model_fields])
            .where(users.c.id == agent_id)
            .where(users.c.workspace_id == workspace_id)
        )
    ).first()
    if row is None:
        raise not_found("agent")
    return AgentOut.model_validate(row._mapping)


async def _waiting(conn: AsyncConnection, workspace_id: int) -> list[RoutingRequest]:
    """Open conversations nobody holds, oldest first: they go to the agent who just came in."""
    rows = await conn.execute(
        select(conversations.c.id, conversations.c.team_id)
        .where(conversations.c.workspace_id == workspace_id)
        .where(conversations.c.status == ConversationStatus.OPEN)
        .where(conversations.c.assignee_id.is_(None))
        .order_by(conversations.c.id)
        .limit(WAITING_BATCH)
    )
    return [RoutingRequest(workspace_id, row.id, row.team_id) for row in rows]
