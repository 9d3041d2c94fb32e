"""The webhook's secret token of an account: the one given, else one derived from its bot token."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

_PURPOSE = b"switchboard telegram webhook secret token"


def webhook_secret(credentials: Mapping[str, str]) -> str:
    """The secret token setWebhook is given and every update must carry.

    An account may name its own (`webhook_secret`); otherwise it is an HMAC of the bot token,
    so it needs no storing and changes when the token is revoked: only whoever holds the
    token, who could call setWebhook anyway, can compute it. 256 bits in setWebhook's
    alphabet (URL-safe base64 without padding).
    """
    given = credentials.get("webhook_secret")
    if given:
        return given
    digest = hmac.new(credentials["bot_token"].encode(), _PURPOSE, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
