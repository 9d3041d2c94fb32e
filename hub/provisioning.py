"""Creates workspaces, users, tokens and channel accounts (CLI, demo seed and tests share it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.base import ChannelConfig
from channels.registry import adapter_class
from hub import audit
from hub.auth import create_token, hash_password
from hub.crypto import SecretBox
from timeline.models import ChannelAccount, Role, User, Workspace
from timeline.models.channels import new_webhook_key
from timeline.models.people import Availability


@dataclass(frozen=True, slots=True)
class NewChannel:
    id: int
    kind: str
    provider: str
    webhook_key: str


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
    webhook_key = new_webhook_key()
    result = await conn.execute(
        ChannelAccount.__table__.insert().returning(ChannelAccount.id),
        {
            "webhook_key": webhook_key,
            "revision": 1,
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
    return NewChannel(channel_id, kind, provider, webhook_key)


@dataclass(frozen=True, slots=True)
class ChannelChange:
    """What to change on a channel account; None leaves a part as it is. Credentials and
    settings given are merged into the stored ones (a value of None removes that name)."""

    active: bool | None = None
    credentials: Mapping[str, str | None] | None = None
    settings: Mapping[str, Any] | None = None
    provider_base_url: str | None = None


async def update_channel(
    conn: AsyncConnection,
    secrets_box: SecretBox,
    channel_id: int,
    change: ChannelChange,
    *,
    actor_user_id: int | None = None,
) -> int:
    """Apply `change` and raise the account's revision, so that every serving process rebuilds
    or drops its adapter within seconds (hub.channel_directory); returns the new revision.

    The changed account must still build an adapter (credentials it requires are present):
    ValueError says what is missing, and nothing is stored. LookupError: no such channel.
    """
    table = ChannelAccount.__table__
    row = (
        await conn.execute(select(table).where(table.c.id == channel_id).with_for_update())
    ).first()
    if row is None:
        raise LookupError(f"no channel {channel_id}")
    credentials = _merged(secrets_box.open(row.credentials_encrypted), change.credentials)
    settings = _merged(row.settings, change.settings)
    base_url = change.provider_base_url or row.provider_base_url
    adapter_class(row.kind, row.provider)(
        ChannelConfig(
            id=row.id,
            workspace_id=row.workspace_id,
            address=row.address,
            credentials=credentials,
            settings=settings,
            provider_base_url=base_url,
        )
    )
    revision = row.revision + 1
    await conn.execute(
        update(table)
        .where(table.c.id == channel_id)
        .values(
            active=row.active if change.active is None else change.active,
            credentials_encrypted=secrets_box.seal(credentials),
            settings=settings,
            provider_base_url=base_url,
            revision=revision,
        )
    )
    await audit.record(
        conn,
        workspace_id=row.workspace_id,
        actor_user_id=actor_user_id,
        action="channel.changed",
        entity_type="channel_account",
        entity_id=channel_id,
        changes={
            **({"active": [row.active, change.active]} if change.active is not None else {}),
            **({"credentials": sorted(change.credentials)} if change.credentials else {}),
            **({"settings": sorted(change.settings)} if change.settings else {}),
            **(
                {"provider_base_url": [row.provider_base_url, base_url]}
                if change.provider_base_url
                else {}
            ),
            "revision": [row.revision, revision],
        },
    )
    return revision


def _merged(stored: Mapping[str, Any], given: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = dict(stored)
    for name, value in (given or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged
