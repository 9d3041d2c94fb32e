"""Conversations and the append-only timeline of events on a customer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import ROOM_FOR_UPDATES, Base, BigId, key_string, utcnow


class ConversationStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


_SNOOZED = text("status = 'snoozed'")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # Most selective column first, in every index ingest looks keys up by: a plan made
        # before PostgreSQL has statistics then still seeks the keys instead of scanning.
        Index("ix_conversations_thread", "identity_id", "channel_account_id", "id"),
        Index("ix_conversations_status", "workspace_id", "status", "id"),
        Index("ix_conversations_assignee", "workspace_id", "assignee_id", "id"),
        # The scheduler's sweep reads the snoozed conversations due first; the index holds
        # the snoozed ones alone (a conversation leaves it as it wakes), so a sweep that finds
        # nothing due reads one index entry, however many conversations there are.
        Index(
            "ix_conversations_snoozed",
            "snoozed_until",
            postgresql_where=_SNOOZED,
            sqlite_where=_SNOOZED,
        ),
        ROOM_FOR_UPDATES,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"))
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    status: Mapped[str] = mapped_column(String(20), default=ConversationStatus.OPEN)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    subject: Mapped[str | None] = mapped_column(String(500))
    messages_count: Mapped[int] = mapped_column(default=0)
    waiting_since: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    last_message_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]
    """When a snoozed conversation wakes. A customer's message opens a snoozed conversation
    without clearing it: it means something only while the status is snoozed."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimelineEvent(Base):
    """One thing that happened on a customer's timeline; rows are only ever appended."""

    __tablename__ = "timeline_events"
    __table_args__ = (
        UniqueConstraint("external_id", "channel_account_id"),  # selective column first
        Index("ix_timeline_customer", "customer_id", "occurred_at", "id"),
        Index("ix_timeline_conversation", "conversation_id", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    channel_account_id: Mapped[int | None] = mapped_column(ForeignKey("channel_accounts.id"))
    kind: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(10))
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    external_id: Mapped[str | None] = mapped_column(key_string(300))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw_ref: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    """When the text in `body` was written by an edit; None: never edited. The texts it
    replaced are in `message_versions`."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageVersion(Base):
    """A text a message had before an edit replaced it (timeline/edits.py)."""

    __tablename__ = "message_versions"
    __table_args__ = (UniqueConstraint("external_id", "channel_account_id"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("timeline_events.id"), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    """1 for the first text kept, counting up as edits arrive."""
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    external_id: Mapped[str] = mapped_column(key_string(300))
    """The edit that put this version aside (its dedupe key: an edit is applied once)."""
    body: Mapped[str] = mapped_column(Text)
    written_at: Mapped[datetime]
    """When this text was written: the message's time, or the edit's that wrote it."""
