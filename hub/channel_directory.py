"""Loads channel accounts with their workspace settings and builds their adapters, cached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from channels.base import ChannelAdapter, ChannelConfig
from channels.registry import build_adapter
from hub.crypto import SecretBox
from timeline.ingest import ChannelContext
from timeline.models import ChannelAccount, Workspace

accounts = ChannelAccount.__table__
workspaces = Workspace.__table__


class UnknownChannel(LookupError):
    """No active channel account has this id (with this kind and provider)."""


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel account ready for use: its pipeline context and its adapter."""

    kind: str
    provider: str
    context: ChannelContext
    adapter: ChannelAdapter


class ChannelDirectory:
    def __init__(self, engine: AsyncEngine, secrets: SecretBox, base_url: str) -> None:
        self._engine = engine
        self._secrets = secrets
        self._base_url = base_url
        self._cache: dict[int, Channel] = {}

    def webhook_url(self, kind: str, provider: str, channel_id: int) -> str:
        return f"{self._base_url}/webhooks/{kind}/{provider}/{channel_id}"

    async def get(self, channel_id: int) -> Channel:
        channel = self._cache.get(channel_id)
        if channel is None:
            channel = await self._load(channel_id)
            self._cache[channel_id] = channel
        return channel

    async def close(self) -> None:
        for channel in self._cache.values():
            close = getattr(channel.adapter, "close", None)
            if close is not None:
                await close()
        self._cache.clear()

    async def _load(self, channel_id: int) -> Channel:
        query = (
            select(accounts, workspaces.c.default_country, workspaces.c.reopen_window_seconds)
            .join(workspaces, workspaces.c.id == accounts.c.workspace_id)
            .where(accounts.c.id == channel_id)
            .where(accounts.c.active.is_(True))
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise UnknownChannel(f"no active channel {channel_id}")
        config = ChannelConfig(
            id=row.id,
            workspace_id=row.workspace_id,
            address=row.address,
            credentials=self._secrets.open(row.credentials_encrypted),
            settings=row.settings,
            provider_base_url=row.provider_base_url,
            webhook_url=self.webhook_url(row.kind, row.provider, row.id),
        )
        context = ChannelContext(
            channel_account_id=row.id,
            workspace_id=row.workspace_id,
            default_country=row.default_country,
            reopen_window=timedelta(seconds=row.reopen_window_seconds),
        )
        adapter = build_adapter(row.kind, row.provider, config)
        return Channel(row.kind, row.provider, context, adapter)
