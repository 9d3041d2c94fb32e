"""Why an update is refused: malformed (quarantine it) or of a type the channel does not handle."""

from __future__ import annotations

from channels.base import MalformedPayload, UnsupportedEvent


class MalformedUpdate(MalformedPayload):
    """The body is not an Update the Bot API documents: answer 400 and quarantine it."""


class UnsupportedUpdate(UnsupportedEvent):
    """A well-formed update the channel does not handle: answer 200, count and log it once per
    `update_type` (poll, chat_member, inline_query, or a message's `dice` ...)."""

    def __init__(self, update_type: str, detail: str) -> None:
        super().__init__(f"{update_type}: {detail}")
        self.update_type = update_type
