"""The webhook's secret token: what setWebhook accepts, checked in constant time on each
request."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping

from channels.base import SignatureInvalid

HEADER = "X-Telegram-Bot-Api-Secret-Token"
_ALLOWED = re.compile(r"[A-Za-z0-9_-]{1,256}")
"""What setWebhook accepts as secret_token: 1-256 characters of A-Z, a-z, 0-9, _ and -."""


def is_valid_secret_token(token: str) -> bool:
    """Whether setWebhook would accept `token` as its secret_token."""
    return _ALLOWED.fullmatch(token) is not None


def check_secret_token(headers: Mapping[str, str], expected: str) -> None:
    """Raise SignatureInvalid unless the request carries exactly the expected secret token.

    The comparison takes the same time wherever the first difference is; bytes are compared,
    so a header with characters outside ASCII is refused like any other wrong token.
    """
    if not expected:
        raise SignatureInvalid("the channel has no secret token to check against")
    given = _header(headers)
    if given is None:
        raise SignatureInvalid(f"missing {HEADER} header")
    if not hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    ):
        raise SignatureInvalid(f"{HEADER} does not match this channel's secret token")


def _header(headers: Mapping[str, str]) -> str | None:
    value = headers.get(HEADER)
    if value is not None:
        return value
    wanted = HEADER.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)
