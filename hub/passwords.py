"""Setting a password: its user (giving the current one) or an admin (a temporary one); either
ends the user's other sessions, since whoever knew the old password may hold one."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import Principal, hash_password, password_matches
from hub.sessions import SessionStore
from hub.users import require_managed_user
from timeline import audit
from timeline.errors import Invalid
from timeline.models import User

users = User.__table__

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


async def change_own_password(
    conn: AsyncConnection,
    sessions: SessionStore,
    caller: Principal,
    current_session_id: int | None,
    current: str,
    new: str,
) -> list[int]:
    """The caller's new password; the ids of the other sessions it ended."""
    await require_own_password(conn, caller, current, "current_password")
    return await set_password(
        conn,
        sessions,
        caller.workspace_id,
        caller.user_id,
        caller.user_id,
        new,
        keep=current_session_id,
    )


async def require_own_password(
    conn: AsyncConnection, caller: Principal, password: str, field: str
) -> None:
    """Invalid (on `field`) unless `password` is the caller's current one."""
    stored = (
        await conn.execute(select(users.c.password_hash).where(users.c.id == caller.user_id))
    ).scalar_one_or_none()
    if stored is None or not await password_matches(stored, password):
        raise Invalid({field: "this is not your current password"})


async def set_temporary_password(
    conn: AsyncConnection,
    sessions: SessionStore,
    workspace_id: int,
    user_id: int,
    new: str,
    *,
    admin: Principal | None,
) -> list[int]:
    """A user manager (None: the operator, at the command line) sets a user's password, to hand
    over and be changed: every session the user had ends; the ids ended."""
    await require_managed_user(conn, workspace_id, user_id, admin)
    actor_id = None if admin is None else admin.user_id
    return await set_password(conn, sessions, workspace_id, actor_id, user_id, new, keep=None)


async def set_password(
    conn: AsyncConnection,
    sessions: SessionStore,
    workspace_id: int,
    actor_user_id: int | None,
    user_id: int,
    new: str,
    *,
    keep: int | None,
) -> list[int]:
    """Set the password, audit it and end the user's sessions but `keep`; the ids ended."""
    await conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=await hash_password(new))
    )
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="user.password_changed",
        entity_type="user",
        entity_id=user_id,
    )
    return await sessions.end(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        user_id=user_id,
        keep=keep,
    )
