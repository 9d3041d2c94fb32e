"""Keeping bot tokens (the Bot API puts them in every URL) out of logs and error messages."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "<redacted>"
_TOKEN_SHAPE = re.compile(r"([0-9]{5,16})(?::|%3[Aa])[A-Za-z0-9_-]{30,}")
"""A token as BotFather issues them: the bot's id, ':' (or %3A in an encoded URL), a secret of
35 URL-safe characters (30 or more matched, in case the length ever changes)."""


def scrub(text: str, tokens: Iterable[str] = ()) -> str:
    """`text` with every bot token in it replaced: the given ones whatever their shape, and
    anything shaped like a token. The bot's id (public: getMe tells it) is kept before the
    replacement, so a log still says which bot it was."""
    for token in tokens:
        if token:
            for spelling in {token, quote(token, safe="")}:
                text = text.replace(spelling, _replacement(token))
    return _TOKEN_SHAPE.sub(lambda match: f"{match[1]}:{REDACTED}", text)


def _replacement(token: str) -> str:
    bot_id, colon, _ = token.partition(":")
    return f"{bot_id}:{REDACTED}" if colon and bot_id.isdigit() else REDACTED


class TokenScrubber(logging.Filter):
    """A logging filter that scrubs bot tokens from a record's message, exception and stack.

    Attach it to the handlers (a logger's own filters do not see records its children
    propagate to it): `handler.addFilter(TokenScrubber(...))`. It never drops a record.
    """

    def __init__(self, tokens: Iterable[str] = ()) -> None:
        super().__init__()
        self.tokens: set[str] = set(tokens)
        """The tokens of the channel accounts this process runs; more may be added."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg, record.args = scrub(message, self.tokens), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.tokens)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self.tokens)
        return True
