"""Users: list them, add one, change a user's role, deactivate and reactivate one (with
users.manage: admins)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from hub.api.framework import ApiRoutes, Call, Text
from hub.publishing import change
from hub.users import (
    UserRow,
    add_user,
    deactivate_user,
    list_users,
    reactivate_user,
    set_role,
)
from hub.web_keys import HUB
from timeline.policy import Permission

routes = ApiRoutes()

RoleName = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[a-z][a-z0-9_-]*$")]
"""A role's name: a built-in one (admin, manager, agent, marketer) or a custom role's."""

EMAIL = r"^[^\s@\x00]+@[^\s@\x00]+$"


class UserOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    active: bool
    """False once deactivated: they cannot sign in, and nothing is routed to them."""


class UserList(BaseModel):
    items: list[UserOut]


class UserIn(BaseModel):
    email: str = Field(min_length=3, max_length=320, pattern=EMAIL)
    name: Text = Field(min_length=1, max_length=200)
    role: RoleName
    password: Text | None = Field(None, min_length=12, max_length=200)


class RoleIn(BaseModel):
    role: RoleName


@routes.add(
    "GET",
    "/users",
    summary="List the workspace's users",
    tag="users",
    response=UserList,
    permission=Permission.USERS_MANAGE,
)
async def get_users(call: Call[Any, Any]) -> UserList:
    async with call.request.app[HUB].reads.connect() as conn:
        found = await list_users(conn, call.principal.workspace_id)
    return UserList(items=[_out(user) for user in found])


@routes.add(
    "POST",
    "/users",
    summary="Add a user",
    tag="users",
    response=UserOut,
    body=UserIn,
    status=201,
    permission=Permission.USERS_MANAGE,
)
async def post_user(call: Call[UserIn, Any]) -> UserOut:
    async with call.request.app[HUB].engine.begin() as conn:
        user = await add_user(
            conn,
            call.principal.workspace_id,
            email=call.body.email,
            name=call.body.name,
            role=call.body.role,
            password=call.body.password,
            actor_user_id=call.principal.user_id,
        )
    return _out(user)


@routes.add(
    "PUT",
    "/users/{user_id}/role",
    summary="Change a user's role (ends their sessions)",
    tag="users",
    response=UserOut,
    body=RoleIn,
    permission=Permission.USERS_MANAGE,
)
async def put_role(call: Call[RoleIn, Any]) -> UserOut:
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        user = await set_role(
            conn,
            hub.sessions,
            call.principal.workspace_id,
            call.ids["user_id"],
            call.body.role,
            actor_user_id=call.principal.user_id,
        )
    return _out(user)


@routes.add(
    "POST",
    "/users/{user_id}/deactivate",
    summary="Deactivate a user (ends their sessions and tokens, hands on their conversations)",
    tag="users",
    response=UserOut,
    permission=Permission.USERS_MANAGE,
)
async def post_deactivate(call: Call[Any, Any]) -> UserOut:
    """Someone who no longer works here: their sessions end and their tokens are revoked at
    once (an open stream closes), they cannot sign in or ask for a reset link, and their
    unresolved conversations go to the next available agents of their teams. What they did
    stays, naming them. Nobody deactivates themselves (409 `own_account`)."""
    hub = call.request.app[HUB]
    async with change(hub) as changing:
        changed = changing.caused(
            await deactivate_user(
                changing.conn,
                hub.sessions,
                hub.conversations,
                call.principal.workspace_id,
                call.ids["user_id"],
                actor_user_id=call.principal.user_id,
            )
        )
    return _out(changed.user)


@routes.add(
    "POST",
    "/users/{user_id}/reactivate",
    summary="Reactivate a deactivated user",
    tag="users",
    response=UserOut,
    permission=Permission.USERS_MANAGE,
)
async def post_reactivate(call: Call[Any, Any]) -> UserOut:
    """They sign in again with their password (or a temporary one: `switchboard user
    set-password`), away until they make themselves available; old sessions and tokens stay
    ended."""
    async with call.request.app[HUB].engine.begin() as conn:
        user = await reactivate_user(
            conn,
            call.principal.workspace_id,
            call.ids["user_id"],
            actor_user_id=call.principal.user_id,
        )
    return _out(user)


def _out(user: UserRow) -> UserOut:
    return UserOut(id=user.id, email=user.email, name=user.name, role=user.role, active=user.active)
