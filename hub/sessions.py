"""Cookie sessions: start one at sign-in, find who a cookie belongs to, renew, list and end them."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import Principal, principal_from, principal_of_users
from hub.config import SignInSettings
from hub.crypto import KeyedHash
from hub.models import UserSession
from timeline import audit
from timeline.models import User

SESSION_COOKIE = "switchboard_session"
TOUCH_EVERY = timedelta(minutes=1)
"""`last_seen_at` is written at most this often: one write a minute per session, not per request."""
MAX_DEVICE = 200
MAX_ADDRESS = 64

sessions = UserSession.__table__
users = User.__table__


@dataclass(frozen=True, slots=True)
class ActiveSession:
    """The session a request's cookie names, with the principal it acts as."""

    id: int
    principal: Principal
    enrolling: bool
    last_seen_at: datetime

    def due_for_touch(self, now: datetime) -> bool:
        return now - self.last_seen_at >= TOUCH_EVERY


@dataclass(frozen=True, slots=True)
class SessionRow:
    """An active session as its owner (or an admin) lists it."""

    id: int
    user_id: int
    device: str
    address: str
    started_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class StartedSession:
    id: int
    token: str
    """The cookie's value: shown to the browser once, stored only as a keyed hash."""


class SessionStore:
    """The sessions of one hub: hashed with its key, expired by its settings."""

    def __init__(self, hasher: KeyedHash, settings: SignInSettings) -> None:
        self._hasher = hasher
        self._idle = timedelta(seconds=settings.idle_seconds)
        self._absolute = timedelta(seconds=settings.absolute_seconds)

    def csrf_token(self, token: str) -> str:
        """The session's CSRF token: derived from its id with the hub's key, so it needs no
        column, and it changes whenever the session id is renewed."""
        return self._hasher.digest("csrf", token)

    async def start(
        self,
        conn: AsyncConnection,
        principal: Principal,
        *,
        enrolling: bool,
        device: str,
        address: str,
    ) -> StartedSession:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session_id = (
            await conn.execute(
                sessions.insert().returning(sessions.c.id),
                {
                    "workspace_id": principal.workspace_id,
                    "user_id": principal.user_id,
                    "token_hash": self._digest(token),
                    "enrolling": enrolling,
                    "device": device[:MAX_DEVICE],
                    "address": address[:MAX_ADDRESS],
                    "started_at": now,
                    "last_seen_at": now,
                },
            )
        ).scalar_one()
        return StartedSession(session_id, token)

    async def find(self, conn: AsyncConnection, token: str) -> ActiveSession | None:
        """The active session of this cookie value: one lookup by its unique hash."""
        now = datetime.now(UTC)
        row = (
            await conn.execute(
                _ACTIVE,
                {
                    "token_hash": self._digest(token),
                    "idle_since": now - self._idle,
                    "started_since": now - self._absolute,
                },
            )
        ).first()
        if row is None:
            return None
        return ActiveSession(row.session_id, principal_from(row), row.enrolling, row.last_seen_at)

    async def touch(self, conn: AsyncConnection, session_id: int) -> None:
        await conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id)
            .values(last_seen_at=datetime.now(UTC))
        )

    async def renew(self, conn: AsyncConnection, session_id: int) -> str:
        """A new id for a session whose privileges change (two-factor enrolled): the old cookie,
        which an onlooker may have seen, names nothing from now on."""
        token = secrets.token_urlsafe(32)
        await conn.execute(
            update(sessions)
            .where(sessions.c.id == session_id)
            .values(token_hash=self._digest(token), enrolling=False)
        )
        return token

    async def list_active(
        self, conn: AsyncConnection, workspace_id: int, user_id: int
    ) -> list[SessionRow]:
        now = datetime.now(UTC)
        rows = await conn.execute(
            select(
                sessions.c.id,
                sessions.c.user_id,
                sessions.c.device,
                sessions.c.address,
                sessions.c.started_at,
                sessions.c.last_seen_at,
            )
            .where(sessions.c.workspace_id == workspace_id)
            .where(sessions.c.user_id == user_id)
            .where(*self._active(now))
            .order_by(sessions.c.last_seen_at.desc(), sessions.c.id.desc())
        )
        return [SessionRow(*row) for row in rows]

    async def end(
        self,
        conn: AsyncConnection,
        *,
        workspace_id: int,
        actor_user_id: int | None,
        session_ids: Sequence[int] = (),
        user_id: int | None = None,
        keep: int | None = None,
    ) -> list[int]:
        """End the active sessions named (by id, or all of `user_id`'s but `keep`) in the
        workspace, with an audit entry each; the ids ended (none: nothing there to end)."""
        now = datetime.now(UTC)
        query = (
            update(sessions)
            .where(sessions.c.workspace_id == workspace_id)
            .where(*self._active(now))
            .values(ended_at=now)
            .returning(sessions.c.id, sessions.c.user_id)
        )
        if session_ids:
            query = query.where(sessions.c.id.in_(session_ids))
        if user_id is not None:
            query = query.where(sessions.c.user_id == user_id)
        if keep is not None:
            query = query.where(sessions.c.id != keep)
        ended = list(await conn.execute(query))
        await audit.record_all(
            conn,
            [
                audit.Audited(
                    workspace_id,
                    actor_user_id,
                    "session.ended",
                    "session",
                    row.id,
                    {"user_id": row.user_id},
                )
                for row in ended
            ],
        )
        return sorted(row.id for row in ended)

    def _active(self, now: datetime) -> tuple[ColumnElement[bool], ...]:
        return (
            sessions.c.ended_at.is_(None),
            sessions.c.last_seen_at > now - self._idle,
            sessions.c.started_at > now - self._absolute,
        )

    def _digest(self, token: str) -> str:
        return self._hasher.digest("session", token)


_ACTIVE = (
    principal_of_users()
    .add_columns(sessions.c.id.label("session_id"), sessions.c.enrolling, sessions.c.last_seen_at)
    .join(sessions, sessions.c.user_id == users.c.id)
    .where(sessions.c.token_hash == bindparam("token_hash"))
    .where(sessions.c.ended_at.is_(None))
    .where(sessions.c.last_seen_at > bindparam("idle_since"))
    .where(sessions.c.started_at > bindparam("started_since"))
)
