"""Normalizes customer handles and is the one place identities are looked up or created."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from timeline.events import ExternalIdentity, IdentityKind


class InvalidIdentity(ValueError):
    """A handle that cannot be normalized (e.g. a phone number that is not a number)."""


@dataclass(frozen=True, slots=True)
class IdentityKey:
    """A normalized identity: what the unique (workspace, kind, value) index holds."""

    kind: str
    value: str


def normalize(identity: ExternalIdentity, default_country: str) -> IdentityKey:
    """Bring every way of writing a handle to one canonical value."""
    normalizer = _NORMALIZERS.get(identity.kind, _normalize_opaque)
    return IdentityKey(kind=str(identity.kind), value=normalizer(identity.value, default_country))


@lru_cache(maxsize=65_536)
def normalize_phone(value: str, default_country: str) -> str:
    """E.164, reading local numbers in the workspace's country and any Unicode digits.

    Cached: parsing is slow next to the rest of an event's path, and the same customers write
    again and again.
    """
    ascii_digits = "".join(_ascii_digit(ch) for ch in value.strip())
    if ascii_digits.startswith("00"):
        ascii_digits = "+" + ascii_digits[2:]
    try:
        number = phonenumbers.parse(ascii_digits, default_country.upper())
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentity(f"not a phone number: {value!r} ({error})") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity(f"not a possible phone number: {value!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(value: str, default_country: str = "") -> str:
    address = value.strip().strip("<>").strip()
    if address.count("@") != 1 or not all(address.split("@")):
        raise InvalidIdentity(f"not an email address: {value!r}")
    return address.lower()


def _normalize_opaque(value: str, default_country: str = "") -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InvalidIdentity("empty identity value")
    return cleaned


def _ascii_digit(char: str) -> str:
    """Map Persian, Arabic-Indic and other Unicode decimal digits to ASCII; keep the rest."""
    if char.isdigit():
        try:
            return str(unicodedata.decimal(char))
        except ValueError:
            return char
    return char


_NORMALIZERS = {
    IdentityKind.PHONE: normalize_phone,
    IdentityKind.EMAIL: normalize_email,
}


def parse_query_identity(query: str, default_country: str) -> IdentityKey | None:
    """Read a free-text search as an identity if it looks like a phone number or an email."""
    text = query.strip()
    if "@" in text:
        try:
            return IdentityKey(IdentityKind.EMAIL, normalize_email(text))
        except InvalidIdentity:
            return None
    digits = sum(1 for ch in text if ch.isdigit())
    if digits >= 5:
        try:
            return IdentityKey(IdentityKind.PHONE, normalize_phone(text, default_country))
        except InvalidIdentity:
            return None
    return None


def lenient_key(identity: ExternalIdentity, default_country: str) -> IdentityKey:
    """Normalize, keeping a handle we cannot normalize (short codes, sender names) as written.

    Inbound events are never refused for an odd sender: the message still reaches a timeline.
    """
    try:
        return normalize(identity, default_country)
    except InvalidIdentity:
        return IdentityKey(kind=str(identity.kind), value=identity.value.strip())
