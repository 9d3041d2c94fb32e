"""Loads channel accounts with their workspace settings and builds their adapters, cached, and
notices within seconds when an account changes in any process (deactivated, credentials
rotated)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from channels.base import ChannelAdapter, ChannelConfig, Transport
from channels.registry import provider_spec
from hub.crypto import SecretBox
from timeline.ingest import ChannelContext
from timeline.models import ChannelAccount, Workspace

log = logging.getLogger(__name__)
accounts = ChannelAccount.__table__
workspaces = Workspace.__table__

RECHECK_SECONDS = 2.0
"""How long a cached channel is used before its revision is read again: the longest a change
made elsewhere (another process, the CLI) goes unnoticed here."""
RETIRE_GRACE_SECONDS = 60.0
"""How long a replaced adapter stays open for work already under way (a send in flight)."""
WEBHOOK_KEY = re.compile(r"[A-Za-z0-9_-]{43}")


class UnknownChannel(LookupError):
    """No active channel account has this id or webhook key."""


@dataclass(frozen=True, slots=True)
class Channel:
    """A channel account ready for use: its pipeline context and its adapter."""

    kind: str
    provider: str
    revision: int
    transport: Transport
    """Whether the provider posts to the channel's webhook URL or the channel fetches."""
    webhook_url: str
    context: ChannelContext
    adapter: ChannelAdapter


@dataclass(slots=True)
class _Cached:
    channel: Channel
    checked_at: float


_ACCOUNT = select(accounts, workspaces.c.default_country, workspaces.c.reopen_window_seconds).join(
    workspaces, workspaces.c.id == accounts.c.workspace_id
)
_BY_ID = _ACCOUNT.where(accounts.c.id == bindparam("channel_id"))
_BY_KEY = _ACCOUNT.where(accounts.c.webhook_key == bindparam("webhook_key"))
_REVISION = select(accounts.c.revision, accounts.c.active).where(
    accounts.c.id == bindparam("channel_id")
)


class ChannelDirectory:
    """One process's channels, by id and by webhook key.

    A cached channel is trusted for `recheck_seconds`; after that its revision is read again
    (one small query) and the adapter rebuilt if the account changed, or dropped if it was
    deactivated. Every change to an account raises its revision (hub.provisioning), so every
    serving process follows it within `recheck_seconds`, with or without Redis.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        secrets: SecretBox,
        base_url: str,
        *,
        recheck_seconds: float = RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._secrets = secrets
        self._base_url = base_url
        self._recheck = recheck_seconds
        self._clock = clock
        self._cache: dict[int, _Cached] = {}
        self._by_key: dict[str, _Cached] = {}
        self._retiring: dict[asyncio.Task[None], Callable[[], Awaitable[None]]] = {}

    def webhook_url(self, kind: str, provider: str, webhook_key: str) -> str:
        return f"{self._base_url}/webhooks/{kind}/{provider}/{webhook_key}"

    async def get(self, channel_id: int) -> Channel:
        """The active channel with this id; UnknownChannel if there is none (any more)."""
        cached = self._cache.get(channel_id)
        if cached is not None and (self._fresh(cached) or await self._still_current(cached)):
            return cached.channel
        return await self._load(_BY_ID, {"channel_id": channel_id})

    async def by_webhook_key(self, webhook_key: str) -> Channel:
        """The active channel whose webhook URL ends in this key; UnknownChannel otherwise."""
        cached = self._by_key.get(webhook_key)
        if cached is not None and (self._fresh(cached) or await self._still_current(cached)):
            return cached.channel
        if not WEBHOOK_KEY.fullmatch(webhook_key):
            raise UnknownChannel("no such channel")
        return await self._load(_BY_KEY, {"webhook_key": webhook_key})

    async def close(self) -> None:
        """Close every adapter now, the replaced ones included."""
        closers = list(self._retiring.values())
        for task in list(self._retiring):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._retiring.clear()
        for cached in self._cache.values():
            close = getattr(cached.channel.adapter, "close", None)
            if close is not None:
                closers.append(close)
        self._cache.clear()
        self._by_key.clear()
        for close in closers:
            await close()

    def _fresh(self, cached: _Cached) -> bool:
        """Checked less than `recheck_seconds` ago: nearly always, webhook after webhook."""
        return self._clock() - cached.checked_at < self._recheck

    async def _still_current(self, cached: _Cached) -> bool:
        """Read the channel's revision again (it is not `_fresh`): whether it is unchanged."""
        now = self._clock()
        # Requests arriving while this one checks use the channel as it is: under load, every
        # request in flight would otherwise run the same query at the same moment.
        cached.checked_at = now
        channel_id = cached.channel.context.channel_account_id
        async with self._engine.connect() as conn:
            row = (await conn.execute(_REVISION, {"channel_id": channel_id})).first()
        if row is not None and row.active and row.revision == cached.channel.revision:
            return True
        log.info("channel %s changed (revision or activity); reloading it", channel_id)
        self._forget(cached.channel)
        return False

    async def _load(self, query: Any, params: dict[str, Any]) -> Channel:
        async with self._engine.connect() as conn:
            row = (await conn.execute(query, params)).first()
        if row is None or not row.active:
            raise UnknownChannel("no such active channel")
        cached = self._cache.get(row.id)
        if cached is not None and cached.channel.revision == row.revision:
            return cached.channel  # loaded meanwhile by a concurrent caller
        if cached is not None:
            self._forget(cached.channel)
        channel = self._build(row)
        self._cache[row.id] = self._by_key[row.webhook_key] = _Cached(channel, self._clock())
        return channel

    def _build(self, row: Any) -> Channel:
        webhook_url = self.webhook_url(row.kind, row.provider, row.webhook_key)
        config = ChannelConfig(
            id=row.id,
            workspace_id=row.workspace_id,
            address=row.address,
            credentials=self._secrets.open(row.credentials_encrypted),
            settings=row.settings,
            provider_base_url=row.provider_base_url,
            webhook_url=webhook_url,
        )
        context = ChannelContext(
            channel_account_id=row.id,
            workspace_id=row.workspace_id,
            default_country=row.default_country,
            reopen_window=timedelta(seconds=row.reopen_window_seconds),
        )
        provider = provider_spec(row.kind, row.provider)
        return Channel(
            row.kind,
            row.provider,
            row.revision,
            provider.transport(row.settings),
            webhook_url,
            context,
            provider.adapter(config),
        )

    def _forget(self, channel: Channel) -> None:
        """Drop a channel from the cache; its adapter is closed once work under way is done."""
        channel_id = channel.context.channel_account_id
        self._cache.pop(channel_id, None)
        for key in [key for key, c in self._by_key.items() if c.channel is channel]:
            del self._by_key[key]
        close = getattr(channel.adapter, "close", None)
        if close is not None:
            task = asyncio.get_running_loop().create_task(_close_later(close))
            self._retiring[task] = close
            task.add_done_callback(self._done_retiring)

    def _done_retiring(self, task: asyncio.Task[None]) -> None:
        self._retiring.pop(task, None)


async def _close_later(close: Callable[[], Awaitable[None]]) -> None:
    await asyncio.sleep(RETIRE_GRACE_SECONDS)
    await close()
