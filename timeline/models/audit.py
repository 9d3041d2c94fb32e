"""The audit log: who did what, from where, one row per change or refusal, hash-chained."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import Base, BigId, utcnow

HASH_LENGTH = 64
"""A SHA-256 digest in hex."""


class AuditEntry(Base):
    """One entry of its workspace's chain (the hub's own chain when `workspace_id` is null: a
    refusal of someone the hub does not know). `entry_hash` digests the entry's content and
    `previous_hash`, the `entry_hash` of the chain's entry before it (timeline.audit_chain)."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_workspace", "workspace_id", "id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id"))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(80))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    client_address: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    os_user: Mapped[str | None] = mapped_column(String(64))
    previous_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    entry_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
