"""Creates workspaces, users, tokens and channel accounts (CLI, demo seed and tests share it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.registry import adapter_class
from hub import audit
from hub.auth import create_token, hash_password
from hub.crypto import SecretBox
from timeline.models import ChannelAccount, Role, User, Workspace
from timeline.models.people import Availability


@dataclass(frozen=True, slots=True)
class NewChannel:
    id: int
    kind: str
    provider: str


async def create_workspace(conn: AsyncConnection, name: str, *, default_country: str = "US") -> int:
    result = await conn.execute(
        Workspace.__table__.insert().returning(Workspace.id),
        {
            "name": name,
            "default_country": default_country.upper(),
            "reopen_window_seconds": 7 * 24 * 3600,
            "created_at": datetime.now(UTC),
        },
    )
    return result.scalar_one()


async def create_user(
    conn: AsyncConnection,
    workspace_id: int,
    *,
    email: str,
    name: str,
    role: Role = Role.AGENT,
    password: str | None = None,
    capacity: int = 10,
    available: bool = False,
) -> int:
    result = await conn.execute(
        User.__table__.insert().returning(User.id),
        {
            "workspace_id": workspace_id,
            "email": email.strip().lower(),
            "name": name,
            "role": role,
            "password_hash": hash_password(password) if password else None,
            "availability": Availability.AVAILABLE if available else Availability.AWAY,
            "capacity": capacity,
            "open_conversations": 0,
            "created_at": datetime.now(UTC),
        },
    )
    user_id = result.scalar_one()
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=None,
        action="user.created",
        entity_type="user",
        entity_id=user_id,
        changes={"email": email, "role": role},
    )
    return user_id


async def create_api_token(conn: AsyncConnection, user_id: int, name: str = "api") -> str:
    workspace_id = (
        await conn.execute(select(User.workspace_id).where(User.id == user_id))
    ).scalar_one_or_none()
    if workspace_id is None:
        raise LookupError(f"no user {user_id}")
    token = await create_token(conn, workspace_id, user_id, name)
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=user_id,
        action="token.created",
        entity_type="user",
        entity_id=user_id,
        changes={"name": name},
    )
    return token


async def create_channel(
    conn: AsyncConnection,
    secrets_box: SecretBox,
    workspace_id: int,
    *,
    kind: str,
    provider: str,
    name: str,
    address: str,
    credentials: Mapping[str, str],
    settings: dict[str, Any] | None = None,
    provider_base_url: str | None = None,
) -> NewChannel:
    adapter_class(kind, provider)  # refuses an unknown kind/provider before anything is stored
    result = await conn.execute(
        ChannelAccount.__table__.insert().returning(ChannelAccount.id),
        {
            "workspace_id": workspace_id,
            "kind": kind,
            "provider": provider,
            "name": name,
            "address": address,
            "credentials_encrypted": secrets_box.seal(credentials),
            "settings": settings or {},
            "provider_base_url": provider_base_url,
            "active": True,
            "created_at": datetime.now(UTC),
        },
    )
    channel_id = result.scalar_one()
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=None,
        action="channel.created",
        entity_type="channel_account",
        entity_id=channel_id,
        changes={"kind": kind, "provider": provider, "address": address},
    )
    return NewChannel(channel_id, kind, provider)
