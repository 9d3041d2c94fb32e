"""The domain-event log: every domain event, written in the transaction of the change it tells."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import Base, BigId


class LoggedDomainEvent(Base):
    """One domain event; its id orders the log (commit order) and is the stream's event id.

    No foreign key to the workspace: the log is append-only and written on every ingest batch,
    where each checked key costs a lookup per row.
    """

    __tablename__ = "domain_events"
    __table_args__ = (Index("ix_domain_events_workspace", "workspace_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(BigId)
    type: Mapped[str] = mapped_column(String(60))
    data: Mapped[dict[str, Any]]
    logged_at: Mapped[datetime]
