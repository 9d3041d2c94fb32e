"""A workspace's channel accounts as the CLI and the API manage them: listed without their
secrets, added after the provider's check, changed; each change audited and followed by every
serving process within seconds."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from channels.base import CheckFailed
from hub.provisioning import (
    AccountDraft,
    ChannelChange,
    check_account,
    create_channel,
    plan_change,
    update_channel,
)
from hub.webhook_registration import register_webhook
from timeline.models import ChannelAccount

if TYPE_CHECKING:
    from hub.context import Hub

accounts = ChannelAccount.__table__


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    """A channel account as it may be shown: which credentials it has, never their values."""

    id: int
    workspace_id: int
    kind: str
    provider: str
    name: str
    address: str
    active: bool
    revision: int
    credential_names: list[str]
    settings: dict[str, Any]
    provider_base_url: str | None
    webhook_url: str
    """Its public key included: for those who manage channels only."""
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SavedChannel:
    """A channel account as added or changed, and what its provider said of its webhook."""

    channel: ChannelSummary
    unregistered: str | None
    """Why the provider was not told the webhook URL (the hub tries again whenever it starts
    serving); None when it was, or needs not be."""


async def list_channels(
    hub: Hub, conn: AsyncConnection, workspace_id: int | None
) -> list[ChannelSummary]:
    """The workspace's channel accounts (every workspace's: None), oldest first."""
    query = select(accounts).order_by(accounts.c.id)
    if workspace_id is not None:
        query = query.where(accounts.c.workspace_id == workspace_id)
    return [_summary(hub, row) for row in await conn.execute(query)]


async def find_channel(
    hub: Hub, conn: AsyncConnection, workspace_id: int | None, channel_id: int
) -> ChannelSummary | None:
    """The channel account `channel_id` (of `workspace_id`, when given), or None."""
    query = select(accounts).where(accounts.c.id == channel_id)
    if workspace_id is not None:
        query = query.where(accounts.c.workspace_id == workspace_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _summary(hub, row)


async def add_channel(
    hub: Hub,
    workspace_id: int,
    draft: AccountDraft,
    *,
    name: str,
    check: bool = True,
    actor_user_id: int | None = None,
) -> SavedChannel:
    """Check the drafted account with its provider (unless not to), store it, then tell the
    provider its webhook URL where the channel asks for that. CheckFailed: the provider refused
    or could not be reached, and nothing is stored."""
    if check:
        await check_account(draft)
    async with hub.engine.begin() as conn:
        made = await create_channel(
            conn, hub.secrets, workspace_id, draft, name=name, actor_user_id=actor_user_id
        )
        channel = await find_channel(hub, conn, workspace_id, made.id)
    assert channel is not None
    return SavedChannel(channel, await _registered(channel, draft))


async def change_channel(
    hub: Hub,
    workspace_id: int | None,
    channel_id: int,
    change: ChannelChange,
    *,
    check: bool = False,
    actor_user_id: int | None = None,
) -> SavedChannel:
    """Apply `change` (hub.provisioning.update_channel: ValueError, LookupError, Conflict) and
    answer the account as it now is. With `check`, a change the provider should see is checked
    with it first, outside the transaction (no row stays locked while the provider answers):
    CheckFailed says why not, and nothing is stored. The provider is then told the webhook URL
    again where it asks for that (new credentials, new settings, an account switched on)."""
    expected_revision = None
    if check:
        async with hub.engine.connect() as conn:
            planned = await plan_change(
                conn, hub.secrets, channel_id, change, workspace_id=workspace_id
            )
        if planned.asks_provider(change):
            await check_account(planned.draft)
            expected_revision = planned.revision
    async with hub.engine.begin() as conn:
        planned = await update_channel(
            conn,
            hub.secrets,
            channel_id,
            change,
            workspace_id=workspace_id,
            actor_user_id=actor_user_id,
            expected_revision=expected_revision,
        )
        channel = await find_channel(hub, conn, workspace_id, channel_id)
    assert channel is not None
    if not planned.asks_provider(change):
        return SavedChannel(channel, None)
    return SavedChannel(channel, await _registered(channel, planned.draft))


async def _registered(channel: ChannelSummary, draft: AccountDraft) -> str | None:
    """Tell the provider the channel's webhook URL, where it asks for that; why it could not
    be told (None: it was, or needs not be)."""
    config = replace(
        draft.config(channel.id, channel.workspace_id), webhook_url=channel.webhook_url
    )
    try:
        await register_webhook(config, draft.kind, draft.provider)
    except CheckFailed as error:
        return str(error)
    return None


def _summary(hub: Hub, row: Any) -> ChannelSummary:
    return ChannelSummary(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=row.kind,
        provider=row.provider,
        name=row.name,
        address=row.address,
        active=row.active,
        revision=row.revision,
        credential_names=sorted(hub.secrets.open(row.credentials_encrypted)),
        settings=dict(row.settings),
        provider_base_url=row.provider_base_url,
        webhook_url=hub.channels.webhook_url(row.kind, row.provider, row.webhook_key),
        created_at=row.created_at,
    )
