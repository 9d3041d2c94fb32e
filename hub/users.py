"""Users of a workspace: list them, add one, change someone else's role, deactivate and
reactivate someone, find a user manager's target (the API and the CLI share these)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.auth import Principal
from hub.models import PasswordResetLink
from hub.provisioning import create_user
from hub.sessions import SessionStore
from hub.tokens import revoke_tokens_of
from timeline import audit
from timeline.conversation_service import ConversationService
from timeline.domain import DomainEvent
from timeline.errors import Conflict, NotFound
from timeline.models import User
from timeline.policy import Permission, missing_permission
from timeline.policy.role_store import role_exists

users = User.__table__
reset_links = PasswordResetLink.__table__


@dataclass(frozen=True, slots=True)
class UserRow:
    id: int
    email: str
    name: str
    role: str
    active: bool
    """False once deactivated: no sign-in, token or session of theirs is accepted."""


@dataclass(frozen=True, slots=True)
class UserChanged:
    user: UserRow
    events: list[DomainEvent]
    """What the change caused, to publish once committed (conversations handed on)."""


_USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.name,
    users.c.role,
    users.c.deactivated_at.is_(None).label("active"),
)


async def list_users(conn: AsyncConnection, workspace_id: int) -> list[UserRow]:
    """Everyone who has an account in the workspace, deactivated users too."""
    rows = await conn.execute(
        select(*_USER_COLUMNS).where(users.c.workspace_id == workspace_id).order_by(users.c.id)
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
    return UserRow(user_id, clean, name, role, active=True)


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
    row = await _user(conn, workspace_id, user_id, lock=True)
    if row.role == role:
        return row
    await conn.execute(update(users).where(users.c.id == user_id).values(role=role))
    await _audited(
        conn, workspace_id, actor_user_id, "user.role_changed", user_id, role=[row.role, role]
    )
    await sessions.end(
        conn, workspace_id=workspace_id, actor_user_id=actor_user_id, user_id=user_id
    )
    return UserRow(row.id, row.email, row.name, role, row.active)


async def deactivate_user(
    conn: AsyncConnection,
    sessions: SessionStore,
    conversations: ConversationService,
    workspace_id: int,
    user_id: int,
    *,
    actor_user_id: int | None,
) -> UserChanged:
    """Let someone go, keeping what they did (their replies, notes and audit entries still name
    them): from now on no sign-in, token or session of theirs is accepted (their sessions end,
    their tokens are revoked, their reset links deleted: a reactivation revives none of them),
    routing passes them over, and their unresolved conversations go to the next available
    agents of their teams. Nobody deactivates themselves (Conflict `own_account`: the one who
    does it stays, so a workspace keeps an admin). A deactivated user is left as they are;
    NotFound in another workspace."""
    if user_id == actor_user_id:
        raise Conflict("own_account", "nobody deactivates themselves; ask another admin")
    row = await _user(conn, workspace_id, user_id)
    retired = await conversations.retire_agent(conn, workspace_id, user_id)
    if retired.deactivated:
        await sessions.end(
            conn, workspace_id=workspace_id, actor_user_id=actor_user_id, user_id=user_id
        )
        revoked = await revoke_tokens_of(conn, user_id)
        await conn.execute(delete(reset_links).where(reset_links.c.user_id == user_id))
        await _audited(
            conn,
            workspace_id,
            actor_user_id,
            "user.deactivated",
            user_id,
            active=[True, False],
            tokens_revoked=revoked,
            conversations_handed_on=retired.handed_back,
        )
    user = UserRow(row.id, row.email, row.name, row.role, active=False)
    return UserChanged(user, retired.events)


async def reactivate_user(
    conn: AsyncConnection, workspace_id: int, user_id: int, *, actor_user_id: int | None
) -> UserRow:
    """Undo a deactivation: the user signs in again with their password (or a temporary one an
    admin sets), away until they make themselves available; their old sessions and tokens
    stay ended. An active user is left as they are; NotFound in another workspace."""
    row = await _user(conn, workspace_id, user_id, lock=True)
    if not row.active:
        await conn.execute(update(users).where(users.c.id == user_id).values(deactivated_at=None))
        await _audited(
            conn, workspace_id, actor_user_id, "user.reactivated", user_id, active=[False, True]
        )
    return UserRow(row.id, row.email, row.name, row.role, active=True)


async def _audited(
    conn: AsyncConnection,
    workspace_id: int,
    actor_user_id: int | None,
    action: str,
    user_id: int,
    **changes: Any,
) -> None:
    """The audit entry of a change to a user (actor None: the operator, at the command line)."""
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action=action,
        entity_type="user",
        entity_id=user_id,
        changes=changes,
    )


async def _user(
    conn: AsyncConnection, workspace_id: int, user_id: int, *, lock: bool = False
) -> UserRow:
    query = (
        select(*_USER_COLUMNS)
        .where(users.c.id == user_id)
        .where(users.c.workspace_id == workspace_id)
    )
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound("user")
    return UserRow(*row)


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
