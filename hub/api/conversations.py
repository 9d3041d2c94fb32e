"""Conversations: list with filters, get, reply, note, assign, transfer, resolve, reopen."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import nh3
from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.api.files import FileIn, decode_files
from hub.api.framework import ApiRoutes, Call, Id, Text
from hub.api.paging import Cursor, PageLimit, decode_cursor, encode_cursor
from hub.errors import ApiError, invalid, not_found
from hub.teams import find_team
from hub.web_keys import HUB
from timeline import audit
from timeline.domain import DomainEvent, RoutingRequest
from timeline.models import Consent, Conversation, ConversationStatus, TimelineEvent, User
from timeline.outbox import queue_reply

routes = ApiRoutes()
conversations = Conversation.__table__
users = User.__table__
events = TimelineEvent.__table__
consents = Consent.__table__

Status = Literal["open", "pending", "snoozed", "resolved"]


class ConversationOut(BaseModel):
    id: int
    customer_id: int
    channel_account_id: int
    status: Status
    assignee_id: int | None
    team_id: int | None
    subject: str | None
    messages_count: int
    waiting_since: datetime | None
    first_response_at: datetime | None
    last_message_at: datetime | None
    resolved_at: datetime | None
    created_at: datetime


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class ConversationQuery(BaseModel):
    status: Status | None = None
    assignee_id: Id | None = None
    team_id: Id | None = None
    channel_account_id: Id | None = None
    limit: PageLimit = 50
    cursor: Cursor | None = None


class ReplyIn(BaseModel):
    body: Text = Field(min_length=1, max_length=100_000)
    html: Text | None = Field(
        None,
        min_length=1,
        max_length=200_000,
        description="an HTML version of the body for channels that show HTML; sanitized",
    )
    attachments: list[FileIn] = Field(default_factory=list, max_length=20)


class NoteIn(BaseModel):
    body: Text = Field(min_length=1, max_length=100_000)


class MessageQueued(BaseModel):
    message_id: int
    event_id: int
    status: str


class NoteOut(BaseModel):
    event_id: int


class AssignIn(BaseModel):
    agent_id: Id | None = Field(description="the agent to assign; null to unassign")


class TransferIn(BaseModel):
    team_id: Id | None = Field(description="the team to hand it to; null for the whole workspace")


@routes.add(
    "GET",
    "/conversations",
    summary="List conversations",
    tag="conversations",
    response=ConversationPage,
    query=ConversationQuery,
)
async def list_conversations(call: Call[Any, ConversationQuery]) -> ConversationPage:
    filters = call.query
    query = select(*_columns()).where(conversations.c.workspace_id == call.principal.workspace_id)
    for name in ("status", "assignee_id", "team_id", "channel_account_id"):
        value = getattr(filters, name)
        if value is not None:
            query = query.where(conversations.c[name] == value)
    if filters.cursor:
        (before,) = decode_cursor(filters.cursor, int)
        query = query.where(conversations.c.id < before)
    async with call.request.app[HUB].reads.connect() as conn:
        rows = (
            await conn.execute(query.order_by(conversations.c.id.desc()).limit(filters.limit + 1))
        ).all()
    page = rows[: filters.limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > filters.limit else None
    return ConversationPage(
        items=[ConversationOut.model_validate(r._mapping) for r in page], next_cursor=next_cursor
    )


@routes.add(
    "GET",
    "/conversations/{conversation_id}",
    summary="Get one conversation",
    tag="conversations",
    response=ConversationOut,
)
async def get_conversation(call: Call[Any, Any]) -> ConversationOut:
    async with call.request.app[HUB].reads.connect() as conn:
        return await _load(conn, call)


@routes.add(
    "POST",
    "/conversations/{conversation_id}/replies",
    summary="Reply to the customer",
    tag="conversations",
    response=MessageQueued,
    body=ReplyIn,
    status=202,
)
async def reply(call: Call[ReplyIn, Any]) -> MessageQueued:
    hub = call.request.app[HUB]
    async with hub.reads.connect() as conn:
        conversation = await _load(conn, call)
    channel = await hub.channels.get(conversation.channel_account_id)
    capabilities = channel.adapter.capabilities
    limit = capabilities.max_body_length
    if limit is not None and len(call.body.body) > limit:
        raise invalid({"body": f"longer than this channel's limit of {limit} characters"})
    if call.body.html is not None and not capabilities.html:
        raise invalid({"html": "this channel sends plain text only"})
    files = decode_files(call.body.attachments, capabilities.max_outbound_file_bytes, "attachments")
    async with hub.engine.begin() as conn:
        await _refuse_if_opted_out(conn, conversation.id)
        queued = await queue_reply(
            conn,
            workspace_id=call.principal.workspace_id,
            conversation_id=conversation.id,
            author_user_id=call.principal.user_id,
            body=call.body.body,
            html=nh3.clean(call.body.html) if call.body.html is not None else None,
            attachments=files,
        )
        await _audit(
            conn, call, "conversation.replied", conversation.id, {"message_id": queued.message_id}
        )
    await hub.jobs.enqueue("send_message", queued.message_id)
    await hub.bus.publish(
        [
            DomainEvent(
                call.principal.workspace_id,
                "timeline.event_appended",
                {"event_id": queued.event_id, "kind": "message_sent"},
            )
        ]
    )
    return MessageQueued(message_id=queued.message_id, event_id=queued.event_id, status="queued")


@routes.add(
    "POST",
    "/conversations/{conversation_id}/notes",
    summary="Add an internal note",
    tag="conversations",
    response=NoteOut,
    body=NoteIn,
    status=201,
)
async def add_note(call: Call[NoteIn, Any]) -> NoteOut:
    hub = call.request.app[HUB]
    now = datetime.now(UTC)
    async with hub.engine.begin() as conn:
        conversation = await _load(conn, call)
        event_id = (
            await conn.execute(
                events.insert().returning(events.c.id),
                {
                    "workspace_id": call.principal.workspace_id,
                    "customer_id": conversation.customer_id,
                    "conversation_id": conversation.id,
                    "kind": "note",
                    "direction": "internal",
                    "author_user_id": call.principal.user_id,
                    "body": call.body.body,
                    "attachments": [],
                    "meta": {},
                    "occurred_at": now,
                    "created_at": now,
                },
            )
        ).scalar_one()
        await _audit(conn, call, "conversation.noted", conversation.id, {"event_id": event_id})
    return NoteOut(event_id=event_id)


@routes.add(
    "POST",
    "/conversations/{conversation_id}/assign",
    summary="Assign or unassign",
    tag="conversations",
    response=ConversationOut,
    body=AssignIn,
)
async def assign(call: Call[AssignIn, Any]) -> ConversationOut:
    agent_id = call.body.agent_id
    if not call.principal.manages and agent_id not in (None, call.principal.user_id):
        raise ApiError(403, "forbidden", "agents may only assign conversations to themselves")
    async with call.request.app[HUB].engine.begin() as conn:
        conversation = await _load(conn, call, lock=True)
        if agent_id is not None:
            await _require_agent(conn, call.principal.workspace_id, agent_id)
        if conversation.status != ConversationStatus.RESOLVED:
            await _move_load(conn, conversation.assignee_id, agent_id)
        await _set(conn, conversation.id, assignee_id=agent_id)
        await _audit(
            conn,
            call,
            "conversation.assigned",
            conversation.id,
            {"assignee_id": [conversation.assignee_id, agent_id]},
        )
        updated = await _load(conn, call)
    await _publish(
        call, "conversation.assigned", {"conversation_id": updated.id, "agent_id": agent_id}
    )
    return updated


@routes.add(
    "POST",
    "/conversations/{conversation_id}/transfer",
    summary="Hand over to a team",
    tag="conversations",
    response=ConversationOut,
    body=TransferIn,
)
async def transfer(call: Call[TransferIn, Any]) -> ConversationOut:
    """The conversation leaves its agent and, unless resolved, goes to the team's next agent."""
    team_id = call.body.team_id
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        conversation = await _load(conn, call, lock=True)
        if not call.principal.manages and conversation.assignee_id != call.principal.user_id:
            raise ApiError(403, "forbidden", "agents may only hand over their own conversations")
        workspace_id = call.principal.workspace_id
        if team_id is not None and await find_team(conn, workspace_id, team_id) is None:
            raise invalid({"team_id": "no such team in this workspace"})
        active = conversation.status != ConversationStatus.RESOLVED
        if active:
            await _move_load(conn, conversation.assignee_id, None)
        await _set(conn, conversation.id, team_id=team_id, assignee_id=None)
        assignments = (
            await hub.router.route(conn, [RoutingRequest(workspace_id, conversation.id, team_id)])
            if active
            else []
        )
        await _audit(
            conn,
            call,
            "conversation.transferred",
            conversation.id,
            {"team_id": [conversation.team_id, team_id]},
        )
        updated = await _load(conn, call)
    await _publish(
        call, "conversation.transferred", {"conversation_id": updated.id, "team_id": team_id}
    )
    for assignment in assignments:
        await _publish(
            call,
            "conversation.assigned",
            {"conversation_id": updated.id, "agent_id": assignment.agent_id},
        )
    return updated


@routes.add(
    "POST",
    "/conversations/{conversation_id}/resolve",
    summary="Resolve",
    tag="conversations",
    response=ConversationOut,
)
async def resolve(call: Call[Any, Any]) -> ConversationOut:
    async with call.request.app[HUB].engine.begin() as conn:
        conversation = await _load(conn, call, lock=True)
        if conversation.status != ConversationStatus.RESOLVED:
            await _move_load(conn, conversation.assignee_id, None)
            await _set(
                conn,
                conversation.id,
                status=ConversationStatus.RESOLVED,
                resolved_at=datetime.now(UTC),
                waiting_since=None,
            )
            await _audit(
                conn,
                call,
                "conversation.resolved",
                conversation.id,
                {"status": [conversation.status, "resolved"]},
            )
        updated = await _load(conn, call)
    await _publish(call, "conversation.resolved", {"conversation_id": updated.id})
    return updated


@routes.add(
    "POST",
    "/conversations/{conversation_id}/reopen",
    summary="Reopen",
    tag="conversations",
    response=ConversationOut,
)
async def reopen(call: Call[Any, Any]) -> ConversationOut:
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        conversation = await _load(conn, call, lock=True)
        if conversation.status == ConversationStatus.RESOLVED:
            await _set(
                conn,
                conversation.id,
                status=ConversationStatus.OPEN,
                resolved_at=None,
                assignee_id=None,
            )
            await hub.router.route(
                conn,
                [
                    RoutingRequest(
                        workspace_id=call.principal.workspace_id,
                        conversation_id=conversation.id,
                        team_id=conversation.team_id,
                        preferred_agent_id=conversation.assignee_id,
                    )
                ],
            )
            await _audit(
                conn,
                call,
                "conversation.reopened",
                conversation.id,
                {"status": ["resolved", "open"]},
            )
        updated = await _load(conn, call)
    await _publish(call, "conversation.reopened", {"conversation_id": updated.id})
    return updated


def _columns() -> list[Any]:
    return [conversations.c[name] for name in ConversationOut.model_fields]


async def _load(
    conn: AsyncConnection, call: Call[Any, Any], *, lock: bool = False
) -> ConversationOut:
    query = (
        select(*_columns())
        .where(conversations.c.id == call.ids["conversation_id"])
        .where(conversations.c.workspace_id == call.principal.workspace_id)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise not_found("conversation")
    return ConversationOut.model_validate(row._mapping)


async def _set(conn: AsyncConnection, conversation_id: int, **values: Any) -> None:
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(**values, updated_at=datetime.now(UTC))
    )


async def _move_load(conn: AsyncConnection, from_agent: int | None, to_agent: int | None) -> None:
    """Keep agents' open-conversation counters right when a conversation changes hands."""
    if from_agent == to_agent:
        return
    for agent_id, delta in ((from_agent, -1), (to_agent, 1)):
        if agent_id is not None:
            await conn.execute(
                update(users)
                .where(users.c.id == agent_id)
                .values(open_conversations=users.c.open_conversations + delta)
            )


async def _require_agent(conn: AsyncConnection, workspace_id: int, agent_id: int) -> None:
    found = (
        await conn.execute(
            select(users.c.id)
            .where(users.c.id == agent_id)
            .where(users.c.workspace_id == workspace_id)
        )
    ).first()
    if found is None:
        raise invalid({"agent_id": "no such agent in this workspace"})


async def _refuse_if_opted_out(conn: AsyncConnection, conversation_id: int) -> None:
    row = (
        await conn.execute(
            select(consents.c.granted, consents.c.keyword)
            .join(
                conversations,
                (conversations.c.identity_id == consents.c.identity_id)
                & (conversations.c.channel_account_id == consents.c.channel_account_id),
            )
            .where(conversations.c.id == conversation_id)
        )
    ).first()
    if row is not None and not row.granted:
        raise ApiError(
            409, "opted_out", f"the customer opted out of messages on this channel ({row.keyword})"
        )


async def _audit(
    conn: AsyncConnection,
    call: Call[Any, Any],
    action: str,
    conversation_id: int,
    changes: dict[str, Any],
) -> None:
    await audit.record(
        conn,
        workspace_id=call.principal.workspace_id,
        actor_user_id=call.principal.user_id,
        action=action,
        entity_type="conversation",
        entity_id=conversation_id,
        changes=changes,
    )


async def _publish(call: Call[Any, Any], kind: str, data: dict[str, Any]) -> None:
    await call.request.app[HUB].bus.publish([DomainEvent(call.principal.workspace_id, kind, data)])
