"""The errors the IMAP transport raises, by what the caller should do about them."""

from __future__ import annotations


class ImapError(Exception):
    """Base of the errors this transport raises."""


class ImapConnectionLost(ImapError, ConnectionError):
    """The connection dropped, timed out or could not be made: reconnect with backoff."""


class ImapAuthFailed(ImapError):
    """The server refused the credentials: retrying will not help until they are fixed."""


class ImapCommandFailed(ImapError):
    """The server answered NO or BAD to a command (for example: the mailbox does not exist)."""
