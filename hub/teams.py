"""Teams: create them and set who is in them (the API, the CLI and tests share this)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sql import insert_ignoring_conflicts
from timeline import audit
from timeline.models import Team, TeamMember, User

teams = Team.__table__
members = TeamMember.__table__
users = User.__table__


class TeamNameTaken(ValueError):
    """The workspace already has a team of that name."""


class UnknownMembers(ValueError):
    """Some of the user ids given are not users of the workspace."""

    def __init__(self, ids: Collection[int]) -> None:
        super().__init__(f"no such users in this workspace: {', '.join(map(str, sorted(ids)))}")
        self.ids = sorted(ids)


@dataclass(frozen=True, slots=True)
class TeamRow:
    id: int
    name: str
    member_ids: list[int]


async def create_team(
    conn: AsyncConnection,
    workspace_id: int,
    name: str,
    member_ids: Collection[int] = (),
    *,
    actor_user_id: int | None = None,
) -> TeamRow:
    """A new team with these members; refuses a name the workspace already uses.

    The unique (workspace, name) index decides, not a prior SELECT: of two managers creating
    the same name at once, one gets the team and the other TeamNameTaken.
    """
    clean = name.strip()
    await _require_users(conn, workspace_id, member_ids)
    team_id = (
        await conn.execute(
            insert_ignoring_conflicts(conn, teams).returning(teams.c.id),
            {"workspace_id": workspace_id, "name": clean},
        )
    ).scalar_one_or_none()
    if team_id is None:
        raise TeamNameTaken(f"a team named {clean!r} already exists")
    await _insert_members(conn, workspace_id, team_id, member_ids)
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="team.created",
        entity_type="team",
        entity_id=team_id,
        changes={"name": [None, clean], "member_ids": [[], sorted(set(member_ids))]},
    )
    return TeamRow(team_id, clean, sorted(set(member_ids)))


async def set_members(
    conn: AsyncConnection,
    workspace_id: int,
    team_id: int,
    member_ids: Collection[int],
    *,
    actor_user_id: int | None = None,
) -> TeamRow:
    """Make exactly these users the team's members. LookupError if the team is not here."""
    team = await find_team(conn, workspace_id, team_id)
    if team is None:
        raise LookupError(f"no team {team_id} in this workspace")
    await _require_users(conn, workspace_id, member_ids)
    await conn.execute(delete(members).where(members.c.team_id == team_id))
    await _insert_members(conn, workspace_id, team_id, member_ids)
    wanted = sorted(set(member_ids))
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="team.members_set",
        entity_type="team",
        entity_id=team_id,
        changes={"member_ids": [team.member_ids, wanted]},
    )
    return TeamRow(team.id, team.name, wanted)


async def list_teams(conn: AsyncConnection, workspace_id: int) -> list[TeamRow]:
    """The workspace's teams by name, each with its members' ids."""
    return await _teams(conn, workspace_id)


async def find_team(conn: AsyncConnection, workspace_id: int, team_id: int) -> TeamRow | None:
    """One of the workspace's teams, or None (another workspace's team is not found)."""
    found = await _teams(conn, workspace_id, team_id)
    return found[0] if found else None


async def _teams(
    conn: AsyncConnection, workspace_id: int, team_id: int | None = None
) -> list[TeamRow]:
    query = (
        select(teams.c.id, teams.c.name, members.c.user_id)
        .outerjoin(members, members.c.team_id == teams.c.id)
        .where(teams.c.workspace_id == workspace_id)
        .order_by(teams.c.name, teams.c.id, members.c.user_id)
    )
    if team_id is not None:
        query = query.where(teams.c.id == team_id)
    found: dict[int, TeamRow] = {}
    for row in await conn.execute(query):
        team = found.setdefault(row.id, TeamRow(row.id, row.name, []))
        if row.user_id is not None:
            team.member_ids.append(row.user_id)
    return list(found.values())


async def _require_users(
    conn: AsyncConnection, workspace_id: int, user_ids: Collection[int]
) -> None:
    wanted = set(user_ids)
    if not wanted:
        return
    rows = await conn.execute(
        select(users.c.id).where(users.c.workspace_id == workspace_id).where(users.c.id.in_(wanted))
    )
    missing = wanted - set(rows.scalars())
    if missing:
        raise UnknownMembers(missing)


async def _insert_members(
    conn: AsyncConnection, workspace_id: int, team_id: int, user_ids: Collection[int]
) -> None:
    rows = [
        {"team_id": team_id, "user_id": user_id, "workspace_id": workspace_id}
        for user_id in sorted(set(user_ids))
    ]
    if rows:
        await conn.execute(members.insert(), rows)
