"""Channel accounts, outbound messages with their delivery state, and delivery receipts."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import Base, BigId, key_string, utcnow


def new_webhook_key() -> str:
    """43 URL-safe characters drawn from 256 random bits."""
    return secrets.token_urlsafe(32)


class ChannelAccount(Base):
    __tablename__ = "channel_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    webhook_key: Mapped[str] = mapped_column(key_string(43), unique=True, default=new_webhook_key)
    """The channel's part of its webhook URL: unguessable, so strangers cannot enumerate
    channels by posting to sequential ids."""
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(320))
    credentials_encrypted: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    provider_base_url: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(default=True)
    revision: Mapped[int] = mapped_column(default=1)
    """Raised by every change to the account: serving processes compare it with the revision
    they built their adapter from, and rebuild (or drop) it within seconds of a change."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboundMessage(Base):
    """The outbox: one row per message we send, written with its timeline event.

    A message without a conversation (and so without a timeline event) is a notice: mail the
    hub sends a member of the workspace (a password-reset link), on no customer's timeline."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("channel_account_id", "external_id"),
        Index("ix_outbound_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("timeline_events.id"), unique=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    subject: Mapped[str | None] = mapped_column(String(500))
    """A notice's subject (a reply's comes from the conversation it answers)."""
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    recipient_kind: Mapped[str] = mapped_column(String(20))
    recipient_value: Mapped[str] = mapped_column(String(320))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    external_id: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryReceipt(Base):
    """Every delivery status a provider reported, once, kept even before its message is known:
    a provider replaying a status callback adds nothing."""

    __tablename__ = "delivery_receipts"
    __table_args__ = (
        Index(
            "uq_receipts_message_status", "channel_account_id", "external_id", "status", unique=True
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    external_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    raw_ref: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime]


class ChannelCursor(Base):
    """How far a pull transport has read its provider (e.g. a mailbox's UIDVALIDITY and UID)."""

    __tablename__ = "channel_cursors"

    channel_account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_accounts.id"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    position: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PullLease(Base):
    """Which process reads a pull channel now, until when; renewed while it reads."""

    __tablename__ = "pull_leases"

    channel_account_id: Mapped[int] = mapped_column(
        ForeignKey("channel_accounts.id"), primary_key=True
    )
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
