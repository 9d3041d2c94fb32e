"""Hub-owned tables: API tokens, listeners' cursors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from timeline.models import Base
from timeline.models.base import BigId, utcnow


class ApiToken(Base):
    """A bearer token; only its HMAC is stored (a bare SHA-256 for tokens made before the HMAC,
    until their first use: hub.tokens). `permissions` null: every permission of its user's
    role; else a list of timeline.policy.Permission names."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    permissions: Mapped[list[Any] | None]
    expires_at: Mapped[datetime | None]


class ListenerCursor(Base):
    """How far a listener has handled the domain-event log, and which process runs it now.

    `position` is the id of the last logged event it has handled; it moves in the transaction
    of the listener's own writes. The holder's lease (`holder` until `expires_at`) lets one
    process at a time run the listener.
    """

    __tablename__ = "listener_cursors"

    listener: Mapped[str] = mapped_column(String(100), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
