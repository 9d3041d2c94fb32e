"""Roles: the built-in ones and the workspace's own, made of named permissions (roles.manage)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from hub.api.framework import ApiRoutes, Call
from hub.api.users import RoleName
from hub.web_keys import HUB
from timeline.policy import Permission
from timeline.policy.role_store import RoleDefinition, create_role, list_roles

routes = ApiRoutes()


class RoleOut(BaseModel):
    name: str
    permissions: list[Permission]
    built_in: bool


class RoleList(BaseModel):
    items: list[RoleOut]


class CustomRoleIn(BaseModel):
    name: RoleName
    permissions: list[Permission] = Field(max_length=len(Permission))


@routes.add(
    "GET",
    "/roles",
    summary="List roles and their permissions",
    tag="users",
    response=RoleList,
    permission=Permission.ROLES_MANAGE,
)
async def get_roles(call: Call[Any, Any]) -> RoleList:
    async with call.request.app[HUB].reads.connect() as conn:
        found = await list_roles(conn, call.principal.workspace_id)
    return RoleList(items=[_out(role) for role in found])


@routes.add(
    "POST",
    "/roles",
    summary="Create a custom role from named permissions",
    tag="users",
    response=RoleOut,
    body=CustomRoleIn,
    status=201,
    permission=Permission.ROLES_MANAGE,
)
async def post_role(call: Call[CustomRoleIn, Any]) -> RoleOut:
    async with call.request.app[HUB].engine.begin() as conn:
        role = await create_role(conn, call.principal.actor, call.body.name, call.body.permissions)
    return _out(role)


def _out(role: RoleDefinition) -> RoleOut:
    return RoleOut(name=role.name, permissions=sorted(role.permissions), built_in=role.built_in)
