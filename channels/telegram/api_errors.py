"""What a Bot API refusal means for an outbound message: retry, fail, or unreachable."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from channels.base import PermanentSendError, RecipientUnreachable, TransientSendError
from channels.telegram.scrub import scrub

_UNREACHABLE = ("bot was blocked by the user", "user is deactivated")


class RetryLater(TransientSendError):
    """Telegram's flood control: send again after `retry_after` seconds, not before."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)


def send_failure(
    error: TelegramError, tokens: Iterable[str] = ()
) -> TransientSendError | PermanentSendError:
    """The send error for a python-telegram-bot error, its message free of bot tokens.

    A timeout fails the message: Telegram may have sent it before the answer was lost, and
    the Bot API has no idempotency key to ask, so sending it again automatically could
    reach the customer twice; the agent is told, and can send it again.
    """
    message = scrub(error.message, tokens)
    if isinstance(error, RetryAfter):
        seconds = retry_seconds(error)
        return RetryLater(f"Telegram's flood control asks to wait {seconds:g} s", seconds)
    if isinstance(error, ChatMigrated):
        return PermanentSendError(
            f"the group became a supergroup, chat {error.new_chat_id}: its members' next "
            "messages open its conversation there"
        )
    if isinstance(error, Forbidden):
        if any(reason in message.lower() for reason in _UNREACHABLE):
            return RecipientUnreachable(f"Telegram: {message}")
        return PermanentSendError(f"Telegram refused: {message}")
    if isinstance(error, InvalidToken):
        return PermanentSendError(
            "Telegram rejected the bot token (revoked or regenerated in BotFather?)"
        )
    if isinstance(error, TimedOut):
        return PermanentSendError(
            "Telegram did not answer in time: the message may have reached the customer, so it "
            f"is not sent again automatically ({message})"
        )
    if isinstance(error, BadRequest):
        return PermanentSendError(f"Telegram refused: {message}")
    if isinstance(error, NetworkError):
        return TransientSendError(f"Telegram unreachable: {message}")
    return PermanentSendError(f"Telegram: {message}")


def retry_seconds(error: RetryAfter) -> float:
    """How long flood control asks to wait: RetryAfter.retry_after is whole seconds, or a
    timedelta when PTB_TIMEDELTA is set."""
    retry_after = error.retry_after
    return retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after
