"""Field history: one row per changed field of a customer or a conversation, with its values."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import Base, BigId, utcnow


class RecordType(StrEnum):
    CUSTOMER = "customer"
    CONVERSATION = "conversation"


class ChangeSource(StrEnum):
    """What made a change: a user (the change names them), or the hub itself."""

    USER = "user"
    INGEST = "ingest"
    """A customer's message (it opens a pending, snoozed or resolved conversation) or a
    provider vouching for an identity (it joins two customers)."""
    SCHEDULER = "scheduler"
    ROUTING = "routing"


class FieldChange(Base):
    """A field's value before and after one change. `field` is a conversation's column as the
    API names it (status, assignee_id, team_id, snoozed_until), a customer's custom field as
    `field:<name>`, a contact detail by its identity kind (phone, email...: previous null when
    added, new null when removed), or `merged_customer` (the id of a customer this one
    absorbed). No foreign key on `record_id`: a merge deletes the absorbed customer."""

    __tablename__ = "field_changes"
    __table_args__ = (
        Index("ix_field_changes_record", "workspace_id", "record_type", "record_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[int] = mapped_column(BigId)
    field: Mapped[str] = mapped_column(String(80))
    previous: Mapped[Any] = mapped_column(JSON, nullable=True)
    new: Mapped[Any] = mapped_column(JSON, nullable=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(64))
