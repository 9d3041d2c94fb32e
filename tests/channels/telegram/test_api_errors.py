"""Each refusal python-telegram-bot raises from the Bot API's answers becomes the send error
the outbox acts on: retry (after how long), fail with the reason, or mark the customer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from telegram import Bot
from telegram.error import RetryAfter, TelegramError, TimedOut

from channels.base import PermanentSendError, TransientSendError
from channels.telegram.api_errors import (
    RecipientUnreachable,
    RetryLater,
    retry_seconds,
    send_failure,
)

from .conftest import bot_for
from .fake_bot_api import FakeBotApi

SARA = {"id": 123456789, "type": "private", "first_name": "Sara"}


async def refusal(bot: Bot, fake: FakeBotApi) -> TelegramError:
    fake.add_chat(SARA)
    with pytest.raises(TelegramError) as raised:
        await bot.send_message(SARA["id"], "Your order has shipped")
    return raised.value


async def test_flood_control_is_retried_after_what_telegram_asks(
    fake_bot_api: FakeBotApi, bot: Bot
) -> None:
    fake_bot_api.retry_after("sendMessage", 17)
    failure = send_failure(await refusal(bot, fake_bot_api))
    assert isinstance(failure, RetryLater) and isinstance(failure, TransientSendError)
    assert failure.retry_after == 17
    assert str(failure) == "Telegram's flood control asks to wait 17 s"


async def test_a_customer_who_blocked_the_bot_is_unreachable(
    fake_bot_api: FakeBotApi, bot: Bot
) -> None:
    fake_bot_api.block(SARA["id"])
    failure = send_failure(await refusal(bot, fake_bot_api))
    assert isinstance(failure, RecipientUnreachable) and isinstance(failure, PermanentSendError)
    assert str(failure) == "Telegram: Forbidden: bot was blocked by the user"


@pytest.mark.parametrize(
    ("status", "description", "kind", "text"),
    [
        (403, "Forbidden: user is deactivated", RecipientUnreachable, "user is deactivated"),
        (403, "Forbidden: bot was kicked from the group chat", PermanentSendError, "kicked"),
        (400, "Bad Request: chat not found", PermanentSendError, "Chat not found"),
        (502, "Bad Gateway", TransientSendError, "Telegram unreachable: Bad Gateway"),
        (500, "Internal Server Error", TransientSendError, "Internal Server Error"),
    ],
)
async def test_other_refusals(
    fake_bot_api: FakeBotApi, bot: Bot, status: int, description: str, kind: type, text: str
) -> None:
    fake_bot_api.fail_next("sendMessage", status, description)
    failure = send_failure(await refusal(bot, fake_bot_api))
    assert type(failure) is kind
    assert text in str(failure)


async def test_an_upgraded_group_names_its_new_chat(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    fake_bot_api.fail_next(
        "sendMessage",
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": -1001234567890},
    )
    failure = send_failure(await refusal(bot, fake_bot_api))
    assert type(failure) is PermanentSendError
    assert "became a supergroup, chat -1001234567890" in str(failure)


async def test_a_revoked_token_says_so_without_the_token(fake_bot_api: FakeBotApi) -> None:
    async with bot_for(fake_bot_api) as bot:
        old_token = fake_bot_api.token
        fake_bot_api.token = "7012345678:AAHregeneratedREGENERATED0123456789"  # in BotFather
        failure = send_failure(await refusal(bot, fake_bot_api), [old_token])
        fake_bot_api.token = old_token
    assert type(failure) is PermanentSendError
    assert str(failure) == (
        "Telegram rejected the bot token (revoked or regenerated in BotFather?)"
    )


def test_a_timeout_is_not_retried_since_the_message_may_have_gone() -> None:
    failure = send_failure(TimedOut())
    assert type(failure) is PermanentSendError
    assert "may have reached the customer" in str(failure)


def test_any_message_is_scrubbed_of_tokens() -> None:
    token = "7012345678:AAHfakeFAKEfake0123456789abcdefghij"
    failure = send_failure(TelegramError(f"odd answer from /bot{token}/sendMessage"))
    assert type(failure) is PermanentSendError
    assert "AAHfake" not in str(failure) and "/bot7012345678:<redacted>/" in str(failure)


@pytest.mark.parametrize("retry_after", [5, timedelta(seconds=5)])
def test_retry_seconds_reads_either_spelling(retry_after: int | timedelta) -> None:
    assert retry_seconds(RetryAfter(retry_after)) == 5
