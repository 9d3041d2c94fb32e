"""Hub-owned tables: API tokens, listeners' cursors and parked events, sessions, two-factor and
reset secrets, failure counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
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


class ParkedEvent(Base):
    """A logged event a listener failed on again and again, set aside so that the events after
    it are heard (hub.dispatch); `switchboard listener replay` hands it to the listener again
    once the cause is fixed, and deletes the row when the listener takes it."""

    __tablename__ = "listener_parked_events"

    listener: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    error: Mapped[str] = mapped_column(Text)
    parked_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserSession(Base):
    """A signed-in browser. Only a keyed hash of its cookie is stored (hub.crypto.KeyedHash).

    `enrolling`: signed in with a password alone by a user whose role must use two-factor and
    who has not enrolled yet; such a session may only enrol. A session is over once ended, idle
    too long (`last_seen_at`) or too old (`started_at`): hub.config.SignInSettings.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    enrolling: Mapped[bool] = mapped_column(default=False)
    device: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]


class TwoFactorSecret(Base):
    """A user's TOTP secret, sealed with the hub's SecretBox.

    Unconfirmed (`confirmed_at` null) until the user's first code proves their app has it.
    `last_step` is the TOTP time step of the last code accepted: a code of that step or an
    earlier one is refused, so each code works once.
    """

    __tablename__ = "two_factor_secrets"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    sealed_secret: Mapped[str] = mapped_column(String(500))
    confirmed_at: Mapped[datetime | None]
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class RecoveryCode(Base):
    """One of a user's ten single-use two-factor recovery codes; only its keyed hash is kept."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None]


class PasswordResetLink(Base):
    """A single-use, expiring password-reset token sent by email; only its keyed hash is kept."""

    __tablename__ = "password_reset_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class FailureCount(Base):
    """Failures of one counted pair (a sign-in's email and address, say) in its window, which
    every process of a hub without Redis shares (hub.shared_failures). The pair is stored only
    as its keyed hash, and the row is deleted once its window has passed."""

    __tablename__ = "failure_counts"
    __table_args__ = (Index("ix_failure_counts_window_ends", "window_ends"),)

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    failures: Mapped[int]
    window_ends: Mapped[datetime]
