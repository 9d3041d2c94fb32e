"""The SMS channel as the hub knows it: Twilio-compatible accounts, their check and demo."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field

from channels.base import ChannelConfig, ChannelSpec, DemoAccount, ProviderSpec, Transport
from channels.sms.signature import twilio_signature
from channels.sms.twilio import DEFAULT_BASE_URL, SIGNATURE_HEADER, TwilioSmsAdapter, read_form

DEMO_NUMBER = "+15005550006"
"""Twilio's magic test number: valid, and never a real subscriber."""


class TwilioCredentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_sid: str = Field(
        min_length=1, max_length=64, description="the account SID (AC...) that owns the number"
    )
    auth_token: str = Field(
        min_length=1, max_length=128, description="the account's auth token; it signs webhooks"
    )


class TwilioSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def check_twilio(config: ChannelConfig) -> None:
    adapter = TwilioSmsAdapter(config)
    try:
        await adapter.check_account()
    finally:
        await adapter.close()


def demo_twilio(provider_base_url: str | None) -> DemoAccount:
    auth_token = secrets.token_hex(16)
    return DemoAccount(
        address=DEMO_NUMBER,
        credentials={"account_sid": "AC" + secrets.token_hex(16), "auth_token": auth_token},
        provider_base_url=provider_base_url or DEFAULT_BASE_URL,
        webhook_secret=auth_token,
        hint=(
            "send a signed test SMS: .venv/bin/python scripts/send_test_sms.py --url "
            "{webhook_url} --secret {secret} --from '+1 415 555 0123' --body 'Hello!'"
        ),
    )


def signed_like_twilio(
    credentials: Mapping[str, str], url: str, body: bytes, content_type: str
) -> dict[str, str]:
    """The X-Twilio-Signature Twilio would send with this (UTF-8) form body to `url`."""
    pairs = read_form(body).pairs
    return {
        "Content-Type": content_type,
        SIGNATURE_HEADER: twilio_signature(credentials["auth_token"], url, pairs),
    }


def our_number(given: str | None, _: Mapping[str, str]) -> str:
    """The account's number in E.164 (Twilio's own spelling of it)."""
    if not given:
        raise ValueError("an SMS channel needs --address, its number in E.164 (+15005550006)")
    try:
        number = phonenumbers.parse(given, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise ValueError(f"--address {given!r} is not a phone number in E.164 (+15005550006)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


SPEC = ChannelSpec(
    kind="sms",
    title="SMS",
    providers=(
        ProviderSpec(
            name="twilio",
            adapter=TwilioSmsAdapter,
            credentials=TwilioCredentials,
            settings=TwilioSettings,
            transports=(Transport.WEBHOOK,),
            check=check_twilio,
            demo=demo_twilio,
            address=our_number,
            signed_headers=signed_like_twilio,
        ),
    ),
    docs="docs/channels/sms.md",
)
