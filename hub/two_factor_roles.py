"""Which roles of a workspace must sign in with two-factor: any role it has, built-in or custom."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline import audit
from timeline.errors import Invalid
from timeline.models import Workspace
from timeline.policy.role_store import unknown_roles

workspaces = Workspace.__table__


async def choose_two_factor_roles(
    conn: AsyncConnection, workspace_id: int, roles: Collection[str], *, actor_user_id: int
) -> list[str]:
    """The workspace's roles that must use two-factor from now on, sorted; Invalid naming any
    role the workspace does not have. Their users without two-factor can, after their password,
    only enrol."""
    unknown = await unknown_roles(conn, workspace_id, roles)
    if unknown:
        raise Invalid({"roles": f"no such role in this workspace: {', '.join(unknown)}"})
    names = sorted(set(roles))
    await conn.execute(
        update(workspaces).where(workspaces.c.id == workspace_id).values(two_factor_roles=names)
    )
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="workspace.two_factor_roles_set",
        entity_type="workspace",
        entity_id=workspace_id,
        changes={"two_factor_roles": names},
    )
    return names


async def role_requires_two_factor(conn: AsyncConnection, workspace_id: int, role: str) -> bool:
    required = (
        await conn.execute(
            select(workspaces.c.two_factor_roles).where(workspaces.c.id == workspace_id)
        )
    ).scalar_one()
    return role in (required or [])
