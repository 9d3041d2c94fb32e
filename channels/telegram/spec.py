"""The Telegram channel as the hub knows it: bot accounts, their check against getMe, the demo."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from pydantic import BaseModel, ConfigDict, Field, field_validator
from telegram import Bot
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError

from channels.base import (
    ChannelConfig,
    ChannelSpec,
    CheckFailed,
    DemoAccount,
    ProviderSpec,
    Transport,
)
from channels.telegram.adapter import DEFAULT_BASE_URL, TelegramBotAdapter
from channels.telegram.commands import deep_link
from channels.telegram.files import MAX_BOT_DOWNLOAD_BYTES
from channels.telegram.scrub import scrub
from channels.telegram.secret_token import HEADER, is_valid_secret_token
from channels.telegram.update import HANDLED_UPDATE_TYPES
from channels.telegram.webhook_secret import webhook_secret

TOKEN_PATTERN = r"^[0-9]{5,16}:[A-Za-z0-9_-]{30,64}$"


class BotCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bot_token: str = Field(
        pattern=TOKEN_PATTERN, description="the token BotFather gave, 123456789:AA..."
    )
    webhook_secret: str | None = Field(
        None,
        description="the secret setWebhook is given (default: derived from the bot token)",
    )

    @field_validator("webhook_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_secret_token(value):
            raise ValueError("1 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value


class BotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transport: Transport = Field(
        Transport.WEBHOOK, description="webhook (needs public HTTPS) or polling"
    )
    groups: bool = Field(False, description="also serve group chats, one conversation each")
    max_attachment_bytes: int = Field(
        MAX_BOT_DOWNLOAD_BYTES,
        ge=0,
        le=MAX_BOT_DOWNLOAD_BYTES,
        description="larger files keep only their description (bots download at most 20 MB)",
    )


async def check_bot(config: ChannelConfig) -> None:
    """getMe with the token; for polling, also that no webhook is set (Telegram refuses
    getUpdates while one is)."""
    async with _asking(config) as bot:
        await bot.get_me()
        if BotSettings.model_validate(dict(config.settings)).transport is Transport.POLLING:
            await _no_webhook(bot)


async def register_webhook(config: ChannelConfig) -> None:
    """setWebhook: Telegram posts the update types the channel reads to the account's URL,
    with its secret token."""
    async with _asking(config) as bot:
        await bot.set_webhook(
            url=config.webhook_url or "",
            secret_token=webhook_secret(config.credentials),
            allowed_updates=list(HANDLED_UPDATE_TYPES),
        )


@asynccontextmanager
async def _asking(config: ChannelConfig) -> AsyncIterator[Bot]:
    """The account's bot, its refusals turned into CheckFailed in words free of its token."""
    adapter = TelegramBotAdapter(config)
    token = config.credentials["bot_token"]
    try:
        yield adapter.bot()
    except InvalidToken:
        raise CheckFailed("Telegram rejected the bot token (revoked, or mistyped?)") from None
    except BadRequest as error:  # a NetworkError to python-telegram-bot, but an answer
        raise CheckFailed(f"Telegram refused: {scrub(error.message, [token])}") from None
    except NetworkError as error:
        raise CheckFailed(f"cannot reach the Bot API: {scrub(error.message, [token])}") from None
    except TelegramError as error:
        raise CheckFailed(f"Telegram: {scrub(error.message, [token])}") from None
    finally:
        await adapter.close()


async def _no_webhook(bot: Bot) -> None:
    info = await bot.get_webhook_info()
    if info.url:
        raise CheckFailed(
            f"the bot has a webhook set ({info.url}), and Telegram refuses polling while it "
            "does: remove it (deleteWebhook) or choose --transport webhook"
        )


def demo_bot(provider_base_url: str | None) -> DemoAccount:
    """A bot with a made-up token: it receives webhooks signed with its secret token. Against
    the real Bot API, which would refuse the token, it downloads no files."""
    settings = {} if provider_base_url else {"max_attachment_bytes": 0}
    credentials = {
        "bot_token": f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}"
    }
    return DemoAccount(
        address="@switchboard_demo_bot",
        credentials=credentials,
        settings=settings,
        provider_base_url=provider_base_url or DEFAULT_BASE_URL,
        webhook_secret=webhook_secret(credentials),
        hint=(
            "post a test update: curl -H 'Content-Type: application/json' "
            f"-H '{HEADER}: {{secret}}' --data @tests/channels/telegram/fixtures/"
            "message_received__text.json {webhook_url}"
        ),
    )


def with_secret_token(
    credentials: Mapping[str, str], url: str, body: bytes, content_type: str
) -> dict[str, str]:
    """The headers Telegram sends with an update to a webhook set with the account's secret."""
    return {"Content-Type": content_type, HEADER: webhook_secret(credentials)}


def bot_address(given: str | None, credentials: Mapping[str, str]) -> str:
    """The bot's @username as given (commands addressed to it are told by it), else its id."""
    if given:
        return "@" + given.strip().removeprefix("@")
    return "bot" + credentials["bot_token"].split(":", 1)[0]


SPEC = ChannelSpec(
    kind="telegram",
    title="Telegram",
    providers=(
        ProviderSpec(
            name="telegram-bot-api",
            adapter=TelegramBotAdapter,
            credentials=BotCredentials,
            settings=BotSettings,
            transports=(Transport.WEBHOOK, Transport.POLLING),
            check=check_bot,
            register=register_webhook,
            demo=demo_bot,
            address=bot_address,
            link=deep_link,
            signed_headers=with_secret_token,
        ),
    ),
    docs="docs/channels/telegram.md",
)
