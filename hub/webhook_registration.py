"""Tells providers where to deliver (Telegram's setWebhook): when an account is added, and for
every active webhook account whenever the hub starts serving."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from channels import registry
from channels.base import ChannelConfig, CheckFailed, Transport
from hub.channel_directory import UnknownChannel
from hub.log_text import printable
from timeline.models import ChannelAccount

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)


async def register_webhook(config: ChannelConfig, kind: str, provider: str) -> None:
    """Run the provider's `register` for a webhook account, if it has one; CheckFailed says
    why the provider refused."""
    spec = registry.provider_spec(kind, provider)
    if spec.register is not None and spec.transport(config.settings) is Transport.WEBHOOK:
        await spec.register(config)


async def register_all(hub: Hub) -> None:
    """Register every active webhook account whose provider asks for it; a refusal, or any
    other failure, is logged (the account still takes what the provider delivers) and stops
    neither the others nor the hub."""
    try:
        async with hub.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(ChannelAccount.id, ChannelAccount.kind, ChannelAccount.provider).where(
                        ChannelAccount.active.is_(True)
                    )
                )
            ).all()
    except Exception:
        log.exception("webhooks not registered: the channel accounts could not be read")
        return
    for row in rows:
        try:
            if registry.provider_spec(row.kind, row.provider).register is None:
                continue
            channel = await hub.channels.get(row.id)
            if channel.transport is Transport.WEBHOOK:
                await register_webhook(channel.adapter.config, row.kind, row.provider)  # type: ignore[attr-defined]
        except (CheckFailed, UnknownChannel, LookupError) as error:
            log.warning("channel %s: webhook not registered: %s", row.id, printable(error))
        except Exception:
            log.exception("channel %s: webhook not registered", row.id)
