"""Conversations: list with filters, get, and the conversation service's operations (reply,
note, assign, transfer, resolve, reopen, snooze, mark pending)."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.api.files import FileIn, decode_files
from hub.api.framework import ApiRoutes, Call, Id, Instant, Text
from hub.api.paging import Cursor, PageLimit, decode_cursor, encode_cursor
from hub.bulk_actions import Operation
from hub.channel_directory import UnknownChannel
from hub.errors import ApiError
from hub.jobs import enqueue_committed
from hub.publishing import change
from hub.web_keys import HUB
from timeline.conversation_service import (
    ConversationService,
    ConversationState,
    ReplyDraft,
    conversation_states,
    find_conversation,
)
from timeline.models import Conversation
from timeline.policy import Permission

routes = ApiRoutes()
conversations = Conversation.__table__

Status = Literal["open", "pending", "snoozed", "resolved"]
STATUSES = (
    "open: an agent's to answer; pending: waiting on the customer; snoozed: put aside until "
    "snoozed_until; resolved: done. A customer's message opens a pending or snoozed one (and a "
    "resolved one within the workspace's reopen window)."
)


class ConversationOut(BaseModel):
    id: int
    customer_id: int
    channel_account_id: int
    status: Status = Field(description=STATUSES)
    assignee_id: int | None
    team_id: int | None
    subject: str | None
    messages_count: int
    waiting_since: datetime | None
    first_response_at: datetime | None
    last_message_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None = Field(description="when it wakes; set only while snoozed")
    created_at: datetime


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None


class ConversationQuery(BaseModel):
    status: Status | None = Field(
        None,
        description="only conversations in this status: open, pending (waiting on the "
        "customer), snoozed (until their snoozed_until) or resolved",
    )
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


class SnoozeIn(BaseModel):
    until: Instant = Field(
        description="when it wakes (opens again, routed if it has no agent): a moment in the "
        "future, with its offset from UTC"
    )


@routes.add(
    "GET",
    "/conversations",
    summary="List conversations",
    tag="conversations",
    response=ConversationPage,
    query=ConversationQuery,
    permission=Permission.CONVERSATIONS_READ,
)
async def list_conversations(call: Call[Any, ConversationQuery]) -> ConversationPage:
    filters = call.query
    query = conversation_states().where(conversations.c.workspace_id == call.principal.workspace_id)
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
    permission=Permission.CONVERSATIONS_READ,
)
async def get_conversation(call: Call[Any, Any]) -> ConversationOut:
    async with call.request.app[HUB].reads.connect() as conn:
        return _out(await _find(conn, call))


@routes.add(
    "POST",
    "/conversations/{conversation_id}/replies",
    summary="Reply to the customer",
    tag="conversations",
    response=MessageQueued,
    body=ReplyIn,
    status=202,
    permission=Permission.CONVERSATIONS_ACT,
)
async def reply(call: Call[ReplyIn, Any]) -> MessageQueued:
    hub = call.request.app[HUB]
    # The channel is looked up before the transaction: on SQLite, the directory's reads need
    # the one connection the transaction would hold.
    async with hub.reads.connect() as conn:
        conversation = await _find(conn, call)
    try:
        channel = await hub.channels.get(conversation.channel_account_id)
    except UnknownChannel:
        raise ApiError(
            409, "channel_inactive", "this conversation's channel is deactivated"
        ) from None
    draft = ReplyDraft(call.body.body, call.body.html, decode_files(call.body.attachments))
    async with change(hub) as changing:
        replied = changing.caused(
            await hub.conversations.reply(
                changing.conn,
                call.principal.actor,
                conversation.id,
                draft,
                channel.adapter.capabilities,
            )
        )
    await enqueue_committed(hub.jobs, "send_message", replied.message_id)
    return MessageQueued(message_id=replied.message_id, event_id=replied.event_id, status="queued")


@routes.add(
    "POST",
    "/conversations/{conversation_id}/notes",
    summary="Add an internal note",
    tag="conversations",
    response=NoteOut,
    body=NoteIn,
    status=201,
    permission=Permission.CONVERSATIONS_ACT,
)
async def add_note(call: Call[NoteIn, Any]) -> NoteOut:
    hub = call.request.app[HUB]
    async with change(hub) as changing:
        noted = changing.caused(
            await hub.conversations.note(
                changing.conn, call.principal.actor, call.ids["conversation_id"], call.body.body
            )
        )
    return NoteOut(event_id=noted.event_id)


@routes.add(
    "POST",
    "/conversations/{conversation_id}/assign",
    summary="Assign or unassign",
    tag="conversations",
    response=ConversationOut,
    body=AssignIn,
    permission=Permission.CONVERSATIONS_ACT,
)
async def assign(call: Call[AssignIn, Any]) -> ConversationOut:
    return await _change(call, partial(ConversationService.assign, agent_id=call.body.agent_id))


@routes.add(
    "POST",
    "/conversations/{conversation_id}/transfer",
    summary="Hand over to a team",
    tag="conversations",
    response=ConversationOut,
    body=TransferIn,
    permission=Permission.CONVERSATIONS_ACT,
)
async def transfer(call: Call[TransferIn, Any]) -> ConversationOut:
    """The conversation leaves its agent and, unless resolved, goes to the team's next agent."""
    return await _change(call, partial(ConversationService.transfer, team_id=call.body.team_id))


@routes.add(
    "POST",
    "/conversations/{conversation_id}/resolve",
    summary="Resolve",
    tag="conversations",
    response=ConversationOut,
    permission=Permission.CONVERSATIONS_ACT,
)
async def resolve(call: Call[Any, Any]) -> ConversationOut:
    return await _change(call, ConversationService.resolve)


@routes.add(
    "POST",
    "/conversations/{conversation_id}/reopen",
    summary="Reopen",
    tag="conversations",
    response=ConversationOut,
    permission=Permission.CONVERSATIONS_ACT,
)
async def reopen(call: Call[Any, Any]) -> ConversationOut:
    return await _change(call, ConversationService.reopen)


@routes.add(
    "POST",
    "/conversations/{conversation_id}/snooze",
    summary="Snooze until a time",
    tag="conversations",
    response=ConversationOut,
    body=SnoozeIn,
    permission=Permission.CONVERSATIONS_ACT,
)
async def snooze(call: Call[SnoozeIn, Any]) -> ConversationOut:
    return await _change(call, partial(ConversationService.snooze, until=call.body.until))


@routes.add(
    "POST",
    "/conversations/{conversation_id}/pending",
    summary="Mark pending (waiting on the customer)",
    tag="conversations",
    response=ConversationOut,
    permission=Permission.CONVERSATIONS_ACT,
)
async def mark_pending(call: Call[Any, Any]) -> ConversationOut:
    return await _change(call, ConversationService.mark_pending)


async def _change(call: Call[Any, Any], operation: Operation) -> ConversationOut:
    """Run the change in a transaction of its own, which logs what it caused, then publish."""
    hub = call.request.app[HUB]
    async with change(hub) as changing:
        changed = changing.caused(
            await operation(
                hub.conversations,
                changing.conn,
                call.principal.actor,
                call.ids["conversation_id"],
            )
        )
    return _out(changed.conversation)


async def _find(conn: AsyncConnection, call: Call[Any, Any]) -> ConversationState:
    return await find_conversation(conn, call.principal.workspace_id, call.ids["conversation_id"])


def _out(conversation: ConversationState) -> ConversationOut:
    return ConversationOut.model_validate(conversation, from_attributes=True)
