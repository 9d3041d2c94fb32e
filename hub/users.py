"""Users of a workspace: list them, add one, change someone else's role, find a user manager's
target (the API and the CLI's provisioning share the creation)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import Principal
from hub.provisioning import create_user
from hub.sessions import SessionStore
from timeline import audit
from timeline.errors import Conflict, NotFound
from timeline.models import User
from timeline.policy import Permission, missing_permission
from timeline.policy.role_store import role_exists

users = User.__table__


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    email: str
    name: str
    role: str


async def list_users(conn: AsyncConnection, workspace_id: int) -> list[UserRow]:
    rows = await conn.execute(
        select(users.c.id, users.c.email, users.c.name, users.c.role)
        .where(users.c.workspace_id == workspace_id)
        .order_by(users.c.id)
    )
    return [UserRow(*row) for row in rows]


async def add_user(
    conn: AsyncConnection,
    workspace_id: int,
    *,
    email: str,
    name: str,
    role: str,
    password: str | None,
    actor_user_id: int,
) -> UserRow:
    """A new user of a role the workspace has: Conflict `email_taken` if another user has the
    address, `unknown_role` if the workspace has no such role."""
    await _require_role(conn, workspace_id, role)
    clean = email.strip().lower()
    taken = await conn.execute(
        select(users.c.id).where(users.c.workspace_id == workspace_id).where(users.c.email == clean)
    )
    if taken.first() is not None:
        raise Conflict("email_taken", "a user with this email already exists here")
    user_id = await create_user(
        conn,
        workspace_id,
        email=clean,
        name=name,
        role=role,
        password=password,
        actor_user_id=actor_user_id,
    )
    return UserRow(user_id, clean, name, role)


async def set_role(
    conn: AsyncConnection,
    sessions: SessionStore,
    workspace_id: int,
    user_id: int,
    role: str,
    *,
    actor_user_id: int | None,
) -> UserRow:
    """Give the user another role the workspace has (Conflict `unknown_role` otherwise); a
    change of privileges, so every session the user had ends (they sign in again, under a new
    session id). Nobody changes their own role (Conflict `own_role`): an admin cannot lock
    themselves out, and the one who changes roles stays an admin, so a workspace never loses
    its last one (actor None: the operator, at the command line). NotFound in another
    workspace."""
    if user_id == actor_user_id:
        raise Conflict("own_role", "nobody changes their own role; ask another admin")
    await _require_role(conn, workspace_id, role)
    row = (
        await conn.execute(
            select(users.c.id, users.c.email, users.c.name, users.c.role)
            .where(users.c.id == user_id)
            .where(users.c.workspace_id == workspace_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound("user")
    if row.role == role:
        return UserRow(row.id, row.email, row.name, role)
    await conn.execute(update(users).where(users.c.id == user_id).values(role=role))
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="user.role_changed",
        entity_type="user",
        entity_id=user_id,
        changes={"role": [row.role, role]},
    )
    await sessions.end(
        conn, workspace_id=workspace_id, actor_user_id=actor_user_id, user_id=user_id
    )
    return UserRow(row.id, row.email, row.name, role)


async def require_managed_user(
    conn: AsyncConnection, workspace_id: int, user_id: int, admin: Principal | None
) -> None:
    """The target of a user manager (None: the operator, at the command line): Forbidden
    unless `admin` may manage users, NotFound for a user of another workspace."""
    if admin is not None and not admin.may(Permission.USERS_MANAGE):
        raise missing_permission(Permission.USERS_MANAGE)
    found = await conn.execute(
        select(users.c.id).where(users.c.id == user_id).where(users.c.workspace_id == workspace_id)
    )
    if found.first() is None:
        raise NotFound("user")


async def _require_role(conn: AsyncConnection, workspace_id: int, role: str) -> None:
    if not await role_exists(conn, workspace_id, role):
        raise Conflict("unknown_role", f"no role named {role!r} in this workspace")
