"""Bot commands opening a message: /start and its deep-link payload, /stop, their consent; the
deep link that starts a chat with a payload."""

from __future__ import annotations

import re
from dataclasses import dataclass

from channels.telegram.entities import FormattedText

_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")
START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a t.me/<bot>?start=<payload> deep link may carry (the Bot API's documented alphabet)."""
_BOT_USERNAME = re.compile(r"@([A-Za-z][A-Za-z0-9_]{3,31})", re.ASCII)


def deep_link(address: str, payload: str) -> str | None:
    """`https://t.me/<bot>?start=<payload>` for a bot account whose address is its @username
    (None for one known only by its id, or a payload no deep link can carry)."""
    bot = _BOT_USERNAME.fullmatch(address)
    if bot is None or not START_PAYLOAD.fullmatch(payload):
        return None
    return f"https://t.me/{bot[1]}?start={payload}"


@dataclass(frozen=True, slots=True)
class BotCommand:
    """`/name@bot argument`: the command lower-cased, the bot it names (in groups), the rest."""

    name: str
    addressed_to: str | None
    argument: str

    def is_for(self, bot_username: str) -> bool:
        """Whether our bot should act on it: unaddressed, or addressed to us (case-insensitive)."""
        return self.addressed_to is None or self.addressed_to.lower() == bot_username.lower()

    @property
    def start_payload(self) -> str | None:
        """The deep-link payload of `/start <payload>`, when it is one a link can carry."""
        if self.name == "start" and START_PAYLOAD.fullmatch(self.argument):
            return self.argument
        return None

    @property
    def consent(self) -> bool | None:
        """True for /start (the customer opts in), False for /stop (opts out), else None."""
        return {"start": True, "stop": False}.get(self.name)


def leading_command(text: FormattedText) -> BotCommand | None:
    """The command a message starts with: Telegram marks it with a bot_command entity at 0."""
    if not any(e.type == "bot_command" and e.start == 0 for e in text.entities):
        return None
    match = _COMMAND.match(text.text)
    if match is None:
        return None
    return BotCommand(
        name=match[1].lower(),
        addressed_to=match[2],
        argument=text.text[match.end() :].strip(),
    )
