"""Builds signed Twilio-shaped webhook forms, to try a hub without a real SMS provider."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from channels.sms.signature import twilio_signature


def inbound_sms_form(
    *,
    sender: str,
    recipient: str,
    body: str,
    message_sid: str | None = None,
    account_sid: str = "AC" + "0" * 32,
) -> list[tuple[str, str]]:
    """The fields Twilio posts for an incoming SMS."""
    sid = message_sid or "SM" + secrets.token_hex(16)
    return [
        ("ToCountry", "US"),
        ("SmsMessageSid", sid),
        ("NumMedia", "0"),
        ("SmsSid", sid),
        ("SmsStatus", "received"),
        ("Body", body),
        ("To", recipient),
        ("NumSegments", "1"),
        ("MessageSid", sid),
        ("AccountSid", account_sid),
        ("From", sender),
        ("ApiVersion", "2010-04-01"),
    ]


def status_callback_form(
    *, message_sid: str, status: str, sender: str, recipient: str, account_sid: str, **extra: str
) -> list[tuple[str, str]]:
    """The fields Twilio posts to a StatusCallback URL."""
    return [
        ("SmsSid", message_sid),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("To", recipient),
        ("MessageSid", message_sid),
        ("AccountSid", account_sid),
        ("From", sender),
        ("ApiVersion", "2010-04-01"),
        *extra.items(),
    ]


def signed(
    url: str, auth_token: str, fields: list[tuple[str, str]]
) -> tuple[bytes, dict[str, str]]:
    """The request body and headers that deliver `fields` to `url` as Twilio would."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(auth_token, url, fields),
    }
    return urlencode(fields).encode(), headers
