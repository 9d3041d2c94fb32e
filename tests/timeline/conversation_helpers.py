"""What the conversation service's tests share: actors, a transaction per call, the loads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.context import Hub
from hub.teams import create_team
from tests.workspace import SeededWorkspace, sms_request
from timeline.actor import Actor
from timeline.domain import DomainEvent
from timeline.models import (
    AuditEntry,
    Conversation,
    ConversationStatus,
    Role,
    TimelineEvent,
    User,
)
from timeline.policy import BUILT_IN_ROLES

Result = TypeVar("Result")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def admin(ws: SeededWorkspace) -> Actor:
    return Actor(ws.id, ws.admin_id, BUILT_IN_ROLES[Role.ADMIN])


def agent(ws: SeededWorkspace, agent_id: int) -> Actor:
    return Actor(ws.id, agent_id, BUILT_IN_ROLES[Role.AGENT])


async def committed(hub: Hub, call: Callable[[AsyncConnection], Awaitable[Result]]) -> Result:
    """Run one service call in a transaction of its own, committed (as the API does)."""
    async with hub.engine.begin() as conn:
        return await call(conn)


async def text(hub: Hub, ws: SeededWorkspace, sender: str, sid: str, **kwargs: object) -> int:
    """A customer texts the workspace; the id of the conversation it lands in."""
    outcome = await hub.pipeline.ingest([sms_request(ws, sid, sender, **kwargs)])  # type: ignore[arg-type]
    async with hub.engine.connect() as conn:
        return (
            await conn.execute(
                select(TimelineEvent.conversation_id).where(
                    TimelineEvent.id == outcome.event_ids[0]
                )
            )
        ).scalar_one()


async def conversation(hub: Hub, conversation_id: int) -> Conversation:
    async with hub.engine.connect() as conn:
        return (
            await conn.execute(select(Conversation).where(Conversation.id == conversation_id))
        ).one()  # type: ignore[return-value]


async def loads_and_holdings(
    hub: Hub, ws: SeededWorkspace
) -> tuple[dict[int, int], dict[int, int]]:
    """Each agent's load counter, and how many unresolved conversations each holds."""
    async with hub.engine.connect() as conn:
        loads = dict(
            (
                await conn.execute(
                    select(User.id, User.open_conversations).where(User.workspace_id == ws.id)
                )
            ).all()
        )
        held = Counter(
            (
                await conn.execute(
                    select(Conversation.assignee_id)
                    .where(Conversation.workspace_id == ws.id)
                    .where(Conversation.status != ConversationStatus.RESOLVED)
                    .where(Conversation.assignee_id.is_not(None))
                )
            ).scalars()
        )
    return loads, {user: held[user] for user in loads}


async def assignees(hub: Hub, *conversation_ids: int) -> list[int | None]:
    async with hub.engine.connect() as conn:
        rows = dict(
            (
                await conn.execute(
                    select(Conversation.id, Conversation.assignee_id).where(
                        Conversation.id.in_(conversation_ids)
                    )
                )
            ).all()
        )
    return [rows[c] for c in conversation_ids]


def assigned(events: list[DomainEvent]) -> list[tuple[int, int | None]]:
    """(conversation, agent) of each `conversation.assigned` among the events."""
    return [
        (e.data["conversation_id"], e.data["agent_id"])
        for e in events
        if e.type == "conversation.assigned"
    ]


async def audit_actions(hub: Hub) -> list[str]:
    async with hub.engine.connect() as conn:
        return list(
            (await conn.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars()
        )


async def let_time_pass(hub: Hub, *conversation_ids: int) -> None:
    """The moment the conversations were snoozed until has come."""
    async with hub.engine.begin() as conn:
        await conn.execute(
            update(Conversation)
            .where(Conversation.id.in_(conversation_ids))
            .values(snoozed_until=datetime.now(UTC) - timedelta(seconds=1))
        )


class HeldConversation(NamedTuple):
    """A customer's conversation that routing gave one agent, and a team of the other one."""

    conversation_id: int
    holder: int
    other: int
    team_id: int


async def held_with_a_team_for_the_other(
    hub: Hub, ws: SeededWorkspace, sender: str
) -> HeldConversation:
    """In a workspace of two agents: `sender`'s new conversation, its agent, the other agent,
    and a team "Billing" of the other agent alone."""
    conversation_id = await text(hub, ws, sender, "SM1")
    (holder,) = await assignees(hub, conversation_id)
    other = next(a for a in ws.agent_ids if a != holder)
    async with hub.engine.begin() as conn:
        team = await create_team(conn, ws.id, "Billing", [other])
    assert holder is not None
    return HeldConversation(conversation_id, holder, other, team.id)
