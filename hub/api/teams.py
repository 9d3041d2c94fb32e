"""Teams: list them, create one, set its members (managers and admins change them)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from hub.api.framework import ApiRoutes, Call, Id
from hub.errors import ApiError, invalid, not_found
from hub.permissions import Permission
from hub.teams import TeamNameTaken, TeamRow, UnknownMembers, create_team, list_teams, set_members
from hub.web_keys import HUB

routes = ApiRoutes()

TEAM_NAME = (
    r"^[^\x00]*"
    r"[^\x00\t-\r\x1c- \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    r"[^\x00]*$"
)
"""Something besides whitespace (what str.strip() removes, spelled out so that the document's
regex dialect and the server's agree), and no U+0000."""


class TeamOut(BaseModel):
    id: int
    name: str
    member_ids: list[int]


class TeamList(BaseModel):
    items: list[TeamOut]


class TeamIn(BaseModel):
    name: str = Field(min_length=1, max_length=200, pattern=TEAM_NAME)
    member_ids: list[Id] = Field(default_factory=list, max_length=1000)


class MembersIn(BaseModel):
    member_ids: list[Id] = Field(max_length=1000)


@routes.add("GET", "/teams", summary="List teams", tag="teams", response=TeamList)
async def get_teams(call: Call[Any, Any]) -> TeamList:
    async with call.request.app[HUB].reads.connect() as conn:
        found = await list_teams(conn, call.principal.workspace_id)
    return TeamList(items=[_out(team) for team in found])


@routes.add(
    "POST",
    "/teams",
    summary="Create a team",
    tag="teams",
    permission=Permission.TEAMS_WRITE,
    response=TeamOut,
    body=TeamIn,
    status=201,
)
async def post_team(call: Call[TeamIn, Any]) -> TeamOut:
    _require_manager(call)
    async with call.request.app[HUB].engine.begin() as conn:
        try:
            team = await create_team(
                conn,
                call.principal.workspace_id,
                call.body.name,
                call.body.member_ids,
                actor_user_id=call.principal.user_id,
            )
        except TeamNameTaken as error:
            raise invalid({"name": str(error)}) from None
        except UnknownMembers as error:
            raise invalid({"member_ids": str(error)}) from None
    return _out(team)


@routes.add(
    "PUT",
    "/teams/{team_id}/members",
    summary="Set a team's members",
    tag="teams",
    permission=Permission.TEAMS_WRITE,
    response=TeamOut,
    body=MembersIn,
)
async def put_members(call: Call[MembersIn, Any]) -> TeamOut:
    _require_manager(call)
    async with call.request.app[HUB].engine.begin() as conn:
        try:
            team = await set_members(
                conn,
                call.principal.workspace_id,
                call.ids["team_id"],
                call.body.member_ids,
                actor_user_id=call.principal.user_id,
            )
        except LookupError:
            raise not_found("team") from None
        except UnknownMembers as error:
            raise invalid({"member_ids": str(error)}) from None
    return _out(team)


def _require_manager(call: Call[Any, Any]) -> None:
    if not call.principal.manages:
        raise ApiError(403, "forbidden", "only managers and admins change teams")


def _out(team: TeamRow) -> TeamOut:
    return TeamOut(id=team.id, name=team.name, member_ids=team.member_ids)
