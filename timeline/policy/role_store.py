"""Custom roles kept per workspace: list, create, whether role names exist there."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sql import insert_ignoring_conflicts
from timeline import audit
from timeline.actor import Actor
from timeline.errors import Conflict
from timeline.models import CustomRole
from timeline.policy.permissions import Permission
from timeline.policy.roles import BUILT_IN_ROLES, missing_permission, role_permissions

custom_roles = CustomRole.__table__


@dataclass(frozen=True, slots=True)
class RoleDefinition:
    name: str
    permissions: frozenset[Permission]
    built_in: bool


async def list_roles(conn: AsyncConnection, workspace_id: int) -> list[RoleDefinition]:
    """The built-in roles, then the workspace's own by name."""
    rows = await conn.execute(
        select(custom_roles.c.name, custom_roles.c.permissions)
        .where(custom_roles.c.workspace_id == workspace_id)
        .order_by(custom_roles.c.name)
    )
    built_in = [RoleDefinition(name, granted, True) for name, granted in BUILT_IN_ROLES.items()]
    return built_in + [
        RoleDefinition(row.name, role_permissions(row.name, row.permissions), False) for row in rows
    ]


async def create_role(
    conn: AsyncConnection, actor: Actor, name: str, permissions: Collection[Permission]
) -> RoleDefinition:
    """A custom role of these permissions (roles.manage); Conflict `name_taken` if a built-in
    or another custom role has it. The unique (workspace, name) index decides between two at
    once."""
    if not actor.may(Permission.ROLES_MANAGE):
        raise missing_permission(Permission.ROLES_MANAGE)
    taken = Conflict("name_taken", f"a role named {name!r} already exists")
    if name in BUILT_IN_ROLES:
        raise taken
    names = sorted({permission.value for permission in permissions})
    role_id = (
        await conn.execute(
            insert_ignoring_conflicts(conn, custom_roles).returning(custom_roles.c.id),
            {"workspace_id": actor.workspace_id, "name": name, "permissions": names},
        )
    ).scalar_one_or_none()
    if role_id is None:
        raise taken
    await audit.record(
        conn,
        workspace_id=actor.workspace_id,
        actor_user_id=actor.user_id,
        action="role.created",
        entity_type="role",
        entity_id=role_id,
        changes={"name": [None, name], "permissions": [[], names]},
    )
    return RoleDefinition(name, role_permissions(name, names), False)


async def role_exists(conn: AsyncConnection, workspace_id: int, name: str) -> bool:
    """Whether `name` is a built-in role or one of the workspace's own."""
    return not await unknown_roles(conn, workspace_id, [name])


async def unknown_roles(
    conn: AsyncConnection, workspace_id: int, names: Collection[str]
) -> list[str]:
    """The names, sorted, that are neither a built-in role nor one of the workspace's own."""
    wanted = set(names) - set(BUILT_IN_ROLES)
    if not wanted:
        return []
    found = await conn.execute(
        select(custom_roles.c.name)
        .where(custom_roles.c.workspace_id == workspace_id)
        .where(custom_roles.c.name.in_(wanted))
    )
    return sorted(wanted - set(found.scalars()))
