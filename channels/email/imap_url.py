"""Parses the IMAP settings of a channel: the mailbox URL and the after-import action."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import SplitResult, unquote, urlsplit

DEFAULT_PORTS = {"imap": 143, "imaps": 993}
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_ENCODING_HINT = "percent-encode '/', '?', '#' and '@' in the user name and password"


@dataclass(frozen=True, slots=True)
class MailboxUrl:
    """Where to read mail: `imap[s]://user:password@host[:port][/Mailbox]`, parts decoded."""

    scheme: str
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"

    @property
    def tls(self) -> bool:
        return self.scheme == "imaps"

    @classmethod
    def parse(cls, url: str) -> MailboxUrl:
        """Parse and validate; a ValueError names what is wrong and never echoes the password."""
        parts = _split_url(url)
        return cls(
            scheme=parts.scheme.lower(),
            host=_url_host(parts),
            port=_url_port(parts),
            user=_url_user(parts),
            password=_url_password(parts),
            mailbox=_url_mailbox(parts),
        )

    def __str__(self) -> str:
        return f"{self.scheme}://{self.user}@{self.host}:{self.port}/{self.mailbox}"


def _split_url(url: str) -> SplitResult:
    if not isinstance(url, str) or not url.strip():
        raise ValueError("IMAP URL is empty; expected imap://user:password@host/INBOX")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in DEFAULT_PORTS:
        raise ValueError(
            f"IMAP URL must start with imap:// or imaps://, not {parts.scheme or '(none)'}://"
        )
    if parts.query or parts.fragment:
        raise ValueError(f"IMAP URL must not have a ?query or #fragment ({_ENCODING_HINT})")
    return parts


def _url_host(parts: SplitResult) -> str:
    if not parts.hostname:
        raise ValueError("IMAP URL has no host; expected imap://user:password@host/INBOX")
    return parts.hostname


def _url_port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError:
        raise ValueError(
            f"IMAP URL port must be a number from 1 to 65535 ({_ENCODING_HINT})"
        ) from None
    if port is None:
        return DEFAULT_PORTS[parts.scheme.lower()]
    if not 1 <= port <= 65535:
        raise ValueError("IMAP URL port must be a number from 1 to 65535")
    return port


def _url_user(parts: SplitResult) -> str:
    if not parts.username:
        raise ValueError("IMAP URL has no user name; expected imap://user:password@host/INBOX")
    user = unquote(parts.username)
    _reject_control_chars(user, "user name")
    return user


def _url_password(parts: SplitResult) -> str:
    if parts.password is None:
        raise ValueError("IMAP URL has no password; expected imap://user:password@host/INBOX")
    password = unquote(parts.password)
    _reject_control_chars(password, "password")
    return password


def _url_mailbox(parts: SplitResult) -> str:
    mailbox = unquote(parts.path.strip("/"))
    if not mailbox or mailbox.upper() == "INBOX":
        return "INBOX"
    _reject_control_chars(mailbox, "mailbox name")
    return mailbox


def _reject_control_chars(value: str, what: str) -> None:
    if _CONTROL_CHARS.search(value):
        raise ValueError(f"IMAP URL {what} contains a control character")


@dataclass(frozen=True, slots=True)
class AfterImport:
    """What to do with messages once imported: `none`, `seen` or `move:<Folder>`."""

    kind: Literal["none", "seen", "move"]
    folder: str | None = None

    @classmethod
    def parse(cls, action: str) -> AfterImport:
        keyword, sep, folder = action.strip().partition(":")
        keyword = keyword.lower()
        if keyword in ("none", "seen") and not sep:
            return cls(kind="none" if keyword == "none" else "seen")
        if keyword == "move" and folder.strip():
            _reject_control_chars(folder, "folder name")
            return cls(kind="move", folder=folder.strip())
        raise ValueError(
            f"after-import action must be 'none', 'seen' or 'move:<Folder>', not {action!r}"
        )
