"""Telegram channel accounts for hub tests, made through the provisioning the CLI uses."""

from __future__ import annotations

from typing import Any

from hub.channel_directory import Channel
from hub.context import Hub
from hub.provisioning import create_channel, draft_account

from .fake_bot_api import DEFAULT_TOKEN

SECRET = "the-webhook-secret_0123456789"


async def telegram_channel(
    hub: Hub, workspace_id: int, *, provider_base_url: str | None = None, **settings: Any
) -> Channel:
    """The demo bot's account in the workspace, its webhook signed with SECRET."""
    draft = draft_account(
        "telegram",
        address="@switchboard_demo_bot",
        credentials={"bot_token": DEFAULT_TOKEN, "webhook_secret": SECRET},
        settings=settings,
        provider_base_url=provider_base_url,
    )
    async with hub.engine.begin() as conn:
        made = await create_channel(conn, hub.secrets, workspace_id, draft, name="Telegram")
    return await hub.channels.get(made.id)
