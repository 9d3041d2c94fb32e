"""Link tokens: what a customer hands a channel (a Telegram deep link) to say "I am this
customer", issued and verified with an HMAC of the hub's secret key, nothing stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

VALID_FOR = timedelta(days=90)
"""How long an issued token links; a leaked one (a forwarded email) stops working after."""
MAX_TOKEN_LENGTH = 64
"""Every token fits a Telegram start parameter: at most 64 of A-Z a-z 0-9 _ -."""
_MAC_BYTES = 16
_SHAPE = re.compile(r"([1-9][0-9]{0,18})_([1-9][0-9]{0,5})_([A-Za-z0-9_-]{22})", re.ASCII)
"""`<customer id>_<last valid day, counted from 1970-01-01>_<128-bit MAC, base64url>`."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime


class LinkTokens:
    """Issues and verifies link tokens of one hub's secret key; a token names one customer of
    one workspace (the workspace is in the MAC, not in the token)."""

    def __init__(self, secret_key: str) -> None:
        self._key = hmac.digest(secret_key.encode(), b"switchboard/link-tokens/v1", hashlib.sha256)

    def issue(self, workspace_id: int, customer_id: int, now: datetime) -> IssuedToken:
        last_day = (now + VALID_FOR - _EPOCH).days
        token = f"{customer_id}_{last_day}_{self._mac(workspace_id, customer_id, last_day)}"
        return IssuedToken(token, _EPOCH + timedelta(days=last_day + 1))

    def customer_of(self, token: str, workspace_id: int, now: datetime) -> int | None:
        """The customer the token names in `workspace_id`; None when it is not one of ours,
        names another workspace's customer, or has expired."""
        match = _SHAPE.fullmatch(token)
        if match is None:
            return None
        customer_id, last_day = int(match[1]), int(match[2])
        if (now - _EPOCH).days > last_day:
            return None
        expected = self._mac(workspace_id, customer_id, last_day)
        return customer_id if hmac.compare_digest(expected, match[3]) else None

    def _mac(self, workspace_id: int, customer_id: int, last_day: int) -> str:
        signed = f"{workspace_id}:{customer_id}:{last_day}".encode()
        digest = hmac.digest(self._key, signed, hashlib.sha256)[:_MAC_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
