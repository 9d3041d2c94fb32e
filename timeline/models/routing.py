"""Routing's state: where each assignment pool's round robin last stopped (routing reads it
through storage/, which writes it)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models.base import Base


class RoutingCursor(Base):
    """The last agent a pool (the whole workspace, or one team) handed a conversation to."""

    __tablename__ = "routing_cursors"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), primary_key=True)
    pool: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_agent_id: Mapped[int] = mapped_column(default=0)
