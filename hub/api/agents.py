"""Agents: who works here, and their availability for assignment."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select

from hub.api.framework import ApiRoutes, Call
from hub.publishing import change
from hub.web_keys import HUB
from timeline.models import User
from timeline.models.people import Availability
from timeline.policy import Permission

routes = ApiRoutes()
users = User.__table__


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
    """The workspace's users who work here (deactivated ones are listed by GET /users)."""
    async with call.request.app[HUB].reads.connect() as conn:
        rows = await conn.execute(
            select(*[users.c[n] for n in AgentOut.model_fields])
            .where(users.c.workspace_id == call.principal.workspace_id)
            .where(users.c.deactivated_at.is_(None))
            .order_by(users.c.id)
        )
        return AgentList(items=[AgentOut.model_validate(r._mapping) for r in rows])


@routes.add(
    "PUT",
    "/agents/{agent_id}/availability",
    summary="Set an agent available or away",
    tag="agents",
    permission=Permission.CONVERSATIONS_ACT,
    response=AgentOut,
    body=AvailabilityIn,
)
async def set_availability(call: Call[AvailabilityIn, Any]) -> AgentOut:
    """An agent who becomes available takes the conversations waiting for one."""
    hub = call.request.app[HUB]
    async with change(hub) as changing:
        changed = changing.caused(
            await hub.conversations.set_availability(
                changing.conn,
                call.principal.actor,
                call.ids["agent_id"],
                Availability(call.body.availability),
            )
        )
    return AgentOut.model_validate(changed.agent, from_attributes=True)
