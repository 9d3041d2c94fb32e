"""Changing a user's role: a change of privileges, so every session the user had ends (they
sign in again, under a new session id, with the new role)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.sessions import SessionStore
from timeline import audit
from timeline.errors import NotFound
from timeline.models import Role, User

users = User.__table__


async def set_role(
    conn: AsyncConnection,
    sessions: SessionStore,
    workspace_id: int,
    user_id: int,
    role: Role,
    *,
    actor_user_id: int | None,
) -> list[int]:
    """The user's new role; the ids of the sessions it ended (none if the role is the same)."""
    before = (
        await conn.execute(
            select(users.c.role)
            .where(users.c.id == user_id)
            .where(users.c.workspace_id == workspace_id)
        )
    ).scalar_one_or_none()
    if before is None:
        raise NotFound("user")
    if before == role:
        return []
    await conn.execute(update(users).where(users.c.id == user_id).values(role=role))
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="user.role_changed",
        entity_type="user",
        entity_id=user_id,
        changes={"role": [before, role]},
    )
    return await sessions.end(
        conn, workspace_id=workspace_id, actor_user_id=actor_user_id, user_id=user_id
    )
