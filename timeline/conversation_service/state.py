"""A conversation as the service reads it, scoped to one workspace, and the writes to it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.actor import Actor
from timeline.errors import Conflict, NotFound
from timeline.field_changes import by_user, record_changes
from timeline.models import Conversation, ConversationStatus, RecordType

conversations = Conversation.__table__


@dataclass(frozen=True, slots=True)
class ConversationState:
    """What callers are told of a conversation (the API answers exactly these fields)."""

    id: int
    customer_id: int
    channel_account_id: int
    status: str
    assignee_id: int | None
    team_id: int | None
    subject: str | None
    messages_count: int
    waiting_since: datetime | None
    first_response_at: datetime | None
    last_message_at: datetime | None
    resolved_at: datetime | None
    snoozed_until: datetime | None
    created_at: datetime

    @property
    def resolved(self) -> bool:
        return self.status == ConversationStatus.RESOLVED


def _column(name: str) -> Any:
    if name == "snoozed_until":
        # The ingest opens a snoozed conversation its customer writes to and leaves the time.
        snoozed = conversations.c.status == ConversationStatus.SNOOZED
        return case((snoozed, conversations.c.snoozed_until)).label(name)
    return conversations.c[name]


def conversation_states() -> Select[Any]:
    """Conversations as ConversationState's fields, for the caller to filter and order."""
    return select(*[_column(f.name) for f in fields(ConversationState)])


async def find_conversation(
    conn: AsyncConnection, workspace_id: int, conversation_id: int, *, lock: bool = False
) -> ConversationState:
    """The workspace's conversation; with `lock`, held until the transaction ends (concurrent
    changes of one conversation take turns). NotFound in any other workspace."""
    query = (
        conversation_states()
        .where(conversations.c.id == conversation_id)
        .where(conversations.c.workspace_id == workspace_id)
    )
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound("conversation")
    return ConversationState(**row._mapping)


HISTORY_FIELDS = ("status", "assignee_id", "team_id", "snoozed_until")
"""The fields whose changes a conversation's history keeps (not its counters and times)."""


async def set_columns(
    conn: AsyncConnection, actor: Actor, conversation: ConversationState, **values: Any
) -> None:
    """Write `values` to the conversation, and the actor's changes of HISTORY_FIELDS to its
    history."""
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation.id)
        .values(**values, updated_at=datetime.now(UTC))
    )
    changed = {
        name: (getattr(conversation, name), values[name])
        for name in HISTORY_FIELDS
        if name in values
    }
    await record_changes(conn, by_user(actor, RecordType.CONVERSATION, conversation.id, changed))


def refuse_if_resolved(conversation: ConversationState, change: str) -> None:
    """Conflict `resolved`: the change applies to unresolved conversations only."""
    if conversation.resolved:
        raise Conflict("resolved", f"a resolved conversation is not {change}; reopen it first")
