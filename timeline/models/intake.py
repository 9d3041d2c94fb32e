"""Raw inbound payloads, kept verbatim, and the quarantine of payloads that failed to parse."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import Base, BigId, key_string, utcnow


class RawPayloadRecord(Base):
    """A provider's payload, content-addressed: a redelivered webhook is stored once."""

    __tablename__ = "raw_payloads"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    digest: Mapped[str] = mapped_column(key_string(64), primary_key=True)
    content_type: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class QuarantinedPayload(Base):
    """A payload the adapter could not parse, with the reason; replayable after a fix."""

    __tablename__ = "quarantined_payloads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    channel_account_id: Mapped[int] = mapped_column(ForeignKey("channel_accounts.id"))
    content_type: Mapped[str] = mapped_column(String(200))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    error: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    replayed_at: Mapped[datetime | None]
    replay_error: Mapped[str | None] = mapped_column(Text)
