"""Attachment bytes, stored once by sha256 digest, and the events' references to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import Base, utcnow


class Blob(Base):
    """One file's bytes, content-addressed: however many messages carry it, it is kept once.

    Blobs belong to no workspace; only an `EventAttachment` of a workspace's event reads one.
    """

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventAttachment(Base):
    """The `position`-th attachment of a timeline event, whose bytes are the blob `digest`."""

    __tablename__ = "event_attachments"

    event_id: Mapped[int] = mapped_column(ForeignKey("timeline_events.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"))
