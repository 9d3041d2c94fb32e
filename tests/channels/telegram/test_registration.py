"""The webhook is set with Telegram by `channel add`, when the hub starts and when a change
gives Telegram something new to know; Telegram then delivers to it with the secret token, and
the hub takes the updates in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from channels.telegram.webhook_secret import webhook_secret
from hub.channel_accounts import change_channel
from hub.context import Hub
from hub.provisioning import ChannelChange
from hub.webhook_registration import register_all
from tests.conftest import ServedHub
from tests.hub.test_cli import run
from tests.workspace import seed_workspace
from timeline.models import TimelineEvent

from .accounts import SECRET, telegram_channel
from .fake_bot_api import DEFAULT_TOKEN, FakeBotApi

UPDATE = json.loads(
    (Path(__file__).with_name("fixtures") / "message_received__text.json").read_bytes()
)


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotApi]:
    """A fake Bot API that takes plain-HTTP webhook URLs on any port (the test hub's)."""
    fake = FakeBotApi(allow_any_webhook_url=True)
    await fake.start()
    yield fake
    await fake.close()


async def test_the_hub_sets_its_webhook_and_takes_what_telegram_delivers(
    served_hub: ServedHub, telegram: FakeBotApi
) -> None:
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub)
    channel = await telegram_channel(
        hub, ws.id, provider_base_url=telegram.base_url.removesuffix("/bot")
    )
    await register_all(hub)
    assert (telegram.webhook.url, telegram.webhook.secret_token) == (channel.webhook_url, SECRET)
    telegram.push_update(UPDATE)
    async with aiohttp.ClientSession() as http:
        assert await telegram.deliver_webhook(http) == [200]
    async with hub.engine.connect() as conn:
        stored = (await conn.execute(select(func.count()).select_from(TimelineEvent))).scalar()
    assert stored == 1


async def test_channel_add_sets_the_webhook(tmp_path: Path, telegram: FakeBotApi) -> None:
    url = f"sqlite:///{tmp_path}/add.db"
    assert run(url, "migrate").returncode == 0
    assert run(url, "workspace", "create", "Acme").returncode == 0
    added = await asyncio.to_thread(
        run,
        url,
        *("channel", "add", "telegram", "--workspace", "1", "--address", "acme_bot"),
        *("--bot-token", DEFAULT_TOKEN, "--provider-base-url", telegram.root),
    )
    assert added.returncode == 0, added.stderr
    assert DEFAULT_TOKEN.split(":")[1] not in added.stderr + added.stdout
    printed = added.stderr.split("webhook URL: ", 1)[1].split()[0]
    assert telegram.webhook.url == printed
    assert telegram.webhook.secret_token == webhook_secret({"bot_token": DEFAULT_TOKEN})
    assert [call.method for call in telegram.calls] == ["getMe", "setWebhook"]


async def test_a_changed_secret_is_told_to_telegram_at_once(hub: Hub, telegram: FakeBotApi) -> None:
    ws = await seed_workspace(hub)
    channel = await telegram_channel(
        hub, ws.id, provider_base_url=telegram.base_url.removesuffix("/bot")
    )
    rotated = "a-new-webhook-secret_987654321"
    saved = await change_channel(
        hub,
        ws.id,
        channel.context.channel_account_id,
        ChannelChange(credentials={"webhook_secret": rotated}),
        check=True,
    )
    assert saved.unregistered is None
    assert (telegram.webhook.url, telegram.webhook.secret_token) == (channel.webhook_url, rotated)
    assert [call.method for call in telegram.calls] == ["getMe", "setWebhook"]

    telegram.token = "999:" + "x" * 35  # the bot's token revoked at BotFather meanwhile
    renamed = await change_channel(
        hub,
        ws.id,
        channel.context.channel_account_id,
        ChannelChange(name="Bot", active=True),
        check=True,
    )
    assert renamed.unregistered is None, "a rename asks nothing of the provider"
    switched_off = ChannelChange(active=False)
    await change_channel(hub, ws.id, channel.context.channel_account_id, switched_off, check=True)
    back_on = await change_channel(
        hub, ws.id, channel.context.channel_account_id, ChannelChange(active=True), check=False
    )
    assert back_on.unregistered is not None and "bot token" in back_on.unregistered
