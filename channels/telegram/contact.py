"""A shared contact (Contact object), and its phone number as an E.164 phone identity."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers

from channels.telegram.errors import MalformedUpdate
from timeline.events import ExternalIdentity, IdentityKind


@dataclass(frozen=True, slots=True)
class SharedContact:
    """A contact card sent in a chat.

    `phone` is the number as a phone identity, or None when it is not a possible number.
    `is_senders_own` says the card is the sender's own Telegram account (its user_id is the
    sender's): only then may the number join the sender to a customer known by that phone; a
    card of someone else is content, not a claim about who is writing.
    """

    phone_number: str
    """As Telegram gave it: with or without '+', spaces as the sender's client left them."""
    phone: ExternalIdentity | None
    first_name: str
    last_name: str | None = None
    user_id: int | None = None
    vcard: str | None = None
    is_senders_own: bool = False


def shared_contact(raw: Any, sender_id: int) -> SharedContact:
    """Read a Message's `contact`; MalformedUpdate when a required field is missing."""
    if not isinstance(raw, dict):
        raise MalformedUpdate("contact is not an object")
    phone_number, first_name = raw.get("phone_number"), raw.get("first_name")
    if not isinstance(phone_number, str) or not phone_number.strip():
        raise MalformedUpdate("contact has no phone_number")
    if not isinstance(first_name, str):
        raise MalformedUpdate("contact has no first_name")
    user_id = raw.get("user_id")
    if user_id is not None and (not isinstance(user_id, int) or isinstance(user_id, bool)):
        raise MalformedUpdate("contact's user_id is not a number")
    try:
        phone: ExternalIdentity | None = ExternalIdentity(
            IdentityKind.PHONE, international_phone(phone_number)
        )
    except ValueError:
        phone = None
    return SharedContact(
        phone_number=phone_number,
        phone=phone,
        first_name=first_name,
        last_name=_text(raw, "last_name"),
        user_id=user_id,
        vcard=_text(raw, "vcard"),
        is_senders_own=user_id == sender_id,
    )


def international_phone(number: str) -> str:
    """E.164 for a number Telegram shares, which is always international but often lacks its
    '+' ("989121234567"): read with a default country it would become a local number there.

    Otherwise as timeline/identities.py normalizes phones (any Unicode digits, a leading 00),
    so the pipeline's own normalization leaves the result unchanged. ValueError when it is
    not a possible phone number.
    """
    text = "".join(_ascii_digit(char) for char in number.strip())
    if text.startswith("00"):
        text = text[2:]
    if not text.startswith("+"):
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"not a phone number: {number!r} ({error})") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError(f"not a possible phone number: {number!r}")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _ascii_digit(char: str) -> str:
    """Persian, Arabic-Indic and other decimal digits as ASCII, so a "۰۰" prefix is seen."""
    digit = unicodedata.decimal(char, None)
    return char if digit is None else str(digit)


def _text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    return value if isinstance(value, str) else None
