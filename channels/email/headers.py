"""Reads header fields: raw fields, encoded-words, addresses, Message-IDs, dates, threading.

Header values are always decoded here, from the raw header text, whichever email policy parsed
the message. Addresses are lower-cased. Message ids are normalized to `<id>` with whitespace
removed; References keeps every id in order, de-duplicated. A thread's reply_token comes from
the first To, Cc, Delivered-To, X-Original-To or Envelope-To address shaped
`reply+<token>@...`, its case kept as written; its subject_token is our `[#SB-...]`
token in the Subject (subject_token.py). A garbage or missing Date, or one before 1980 or
more than a day after received_at, falls back to received_at.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from channels.base import MalformedPayload
from channels.email.charsets import decode_text
from channels.email.subject_token import find_subject_token
from channels.email.thread_keys import EmailThreadRef


@dataclass(frozen=True, slots=True)
class HeaderFields:
    """The message's top-level header fields as raw text, names lower-cased, in order."""

    items: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, msg: Message) -> HeaderFields:
        items = tuple((str(name).strip().lower(), str(value)) for name, value in msg.raw_items())
        return cls(items)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.items if key == name]

    def first(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None


_FOLD = re.compile(r"\r\n|\n|\r")  # unfolding removes the line breaks, keeps the blanks
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*?)(?:\?=|$)")
_QP_BYTE = re.compile(rb"=([0-9A-Fa-f]{2})")
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def unfold(value: str) -> str:
    """A header value with its folding line breaks removed (the blanks after them stay)."""
    return _FOLD.sub("", value)


def fix_surrogates(text: str, hint: str | None) -> str:
    """Raw 8-bit bytes in a header (kept as surrogates by the parser) decoded as text."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_text(text.encode("utf-8", "surrogateescape"), None, hint=hint)


def decode_header_text(value: str, hint: str | None = None) -> str:
    """An unstructured header (Subject, display names) as clean text: RFC 2047, leniently."""
    text = fix_surrogates(unfold(value), hint)
    text = _decode_encoded_words(text, hint)
    return " ".join(CONTROL_CHARS.sub(" ", text).split())


def _decode_encoded_words(text: str, hint: str | None) -> str:
    out: list[str] = []
    run: list[tuple[str, str, str]] = []  # (charset, encoding, encoded text) of adjacent words
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        word = (match.group(1).split("*", 1)[0].lower(), match.group(2).lower(), match.group(3))
        adjacent = bool(run) and not between.strip()  # whitespace between words is dropped
        if not (adjacent and run[-1][0] == word[0]):
            if run:
                out.append(_decode_word_run(run, hint))
            if not adjacent:
                out.append(between)
            run = []
        run.append(word)
        position = match.end()
    if run:
        out.append(_decode_word_run(run, hint))
    out.append(text[position:])
    return "".join(out)


def _decode_word_run(run: list[tuple[str, str, str]], hint: str | None) -> str:
    """Adjacent encoded-words of one charset: bytes joined first, so split characters survive."""
    charset = run[0][0]
    if all(encoding == "b" for _, encoding, _ in run):
        data = _b_decode_run([t for _, _, t in run])
    else:
        data = b"".join(_b_decode(t) if e == "b" else _q_decode(t) for _, e, t in run)
    return decode_text(data, charset, hint=hint)


def _b_decode_run(texts: list[str]) -> bytes:
    cleaned = ["".join(t.split()) for t in texts]
    if all(len(t) % 4 == 0 for t in cleaned[:-1]):
        return b"".join(_b_decode(t) for t in cleaned)
    return _b_decode("".join(t.rstrip("=") for t in cleaned))


def _b_decode(text: str) -> bytes:
    data = re.sub(r"[^A-Za-z0-9+/]", "", text.split("=", 1)[0])
    if len(data) % 4 == 1:
        data = data[:-1]
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return text.encode("ascii", "replace")


def _q_decode(text: str) -> bytes:
    raw = text.replace("_", " ").encode("utf-8", "surrogateescape")
    return _QP_BYTE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True, slots=True)
class Address:
    """One address in a header: decoded display name, lower-cased address, text as written."""

    name: str
    address: str  # lower-cased
    original: str


_EMAIL_IN_TEXT = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_BAD_DOMAIN_CHARS = set('<>()[],;:\\"@ \t\r\n')


def normalize_email(value: str) -> str | None:
    """`local@domain` lower-cased, or None when the value is not shaped like an address."""
    address = value.strip().strip("<>").strip()
    if address.lower().startswith("mailto:"):
        address = address[len("mailto:") :]
    local, at, domain = address.rpartition("@")
    domain = domain.rstrip(".")
    if not at or not local or not domain or CONTROL_CHARS.search(address):
        return None
    if any(ch in _BAD_DOMAIN_CHARS for ch in domain):
        return None
    if not local.startswith('"') and any(ch.isspace() or ch in "<>(),;:" for ch in local):
        return None
    return f"{local}@{domain}".lower()


def parse_addresses(values: list[str], hint: str | None) -> list[Address]:
    """Every address in these header values, in order, de-duplicated."""
    texts = [fix_surrogates(unfold(v), hint) for v in values]
    try:
        pairs = getaddresses(texts)
    except Exception:  # a broken list falls back to the regex below
        pairs = []
    found: dict[str, Address] = {}
    for name, original in pairs:
        address = normalize_email(original)
        if address and address not in found:
            found[address] = Address(decode_header_text(name, hint), address, original.strip())
    if not found:
        for original in _EMAIL_IN_TEXT.findall(" ".join(texts)):
            found.setdefault(original.lower(), Address("", original.lower(), original))
    return list(found.values())


def sender_address(headers: HeaderFields, hint: str | None, defects: list[str]) -> Address:
    """The first address of From, else Sender, else Return-Path (noting the fallback)."""
    for name in ("from", "sender", "return-path"):
        found = parse_addresses(headers.all(name), hint)
        if found:
            if name != "from":
                defects.append(f"From holds no address; sender taken from {name.title()}")
            return found[0]
    raise MalformedPayload("no sender address: From, Sender and Return-Path hold no email address")


_REPLY_TOKEN = re.compile(r"^reply\+([A-Za-z0-9][A-Za-z0-9_.=-]*)@", re.IGNORECASE)
_TOKEN_HEADERS = ("to", "cc", "delivered-to", "x-original-to", "envelope-to")


def _reply_token(headers: HeaderFields, hint: str | None) -> str | None:
    """The token of the first recipient shaped `reply+<token>@...` (case kept as written)."""
    for name in _TOKEN_HEADERS:
        for address in parse_addresses(headers.all(name), hint):
            match = _REPLY_TOKEN.match(address.original.strip("<> "))
            if match:
                return match.group(1)
    return None


# --------------------------------------------------------------------------- threading


MAX_REFERENCES = 100
"""Message ids kept of an In-Reply-To or References header: the first (the thread's root) and
the 99 newest, as RFC 5322 lets a client trim them. A header may hold any number, and a reply
repeating 50,000 of them (740 KB) would be refused by mail servers."""


def parse_thread_ref(headers: HeaderFields, hint: str | None) -> EmailThreadRef:
    """Message-ID, In-Reply-To, References (each trimmed to MAX_REFERENCES), Subject, the reply
    and subject tokens."""

    def ids(name: str) -> tuple[str, ...]:
        found = tuple(dict.fromkeys(i for value in headers.all(name) for i in _message_ids(value)))
        if len(found) <= MAX_REFERENCES:
            return found
        return (found[0], *found[-(MAX_REFERENCES - 1) :])

    subject = decode_header_text(headers.first("subject") or "", hint)
    return EmailThreadRef(
        message_id=first_message_id(headers.first("message-id")),
        in_reply_to=ids("in-reply-to"),
        references=ids("references"),
        subject=subject,
        reply_token=_reply_token(headers, hint),
        subject_token=find_subject_token(subject),
    )


# --------------------------------------------------------------------------- ids and dates

_BRACKETED = re.compile(r"<([^<>]*)(>|$)")


def _message_ids(value: str | None) -> list[str]:
    """Message ids in a header as `<id>` with all whitespace removed, in order, de-duplicated."""
    if not value:
        return []
    text = fix_surrogates(unfold(value), None)
    ids = [
        "".join(inner.split())
        for inner, closed in _BRACKETED.findall(text)
        if closed or "@" in inner
    ]  # an unterminated last id still counts
    if not any(ids):
        ids = [token.strip("<>,;") for token in text.split() if "@" in token]
    return list(dict.fromkeys(f"<{i}>" for i in ids if i and not CONTROL_CHARS.search(i)))


def first_message_id(value: str | None) -> str | None:
    """The first message id in a header value, normalized to `<id>`, or None."""
    ids = _message_ids(value)
    return ids[0] if ids else None


def parse_occurred_at(
    headers: HeaderFields, received_at: datetime, defects: list[str]
) -> tuple[datetime, bool]:
    """When the message was written (from Date, else received_at) and whether Date was used."""
    value = headers.first("date")
    if value is None:
        defects.append("no Date header; occurred_at is received_at")
        return received_at, False
    moment = _parse_date(" ".join(fix_surrogates(unfold(value), None).split()))
    if moment is None:
        defects.append("unparseable Date header; occurred_at is received_at")
        return received_at, False
    if moment.year < 1980 or moment > received_at + timedelta(days=1):
        defects.append("implausible Date header; occurred_at is received_at")
        return received_at, False
    return moment, True


def _parse_date(text: str) -> datetime | None:
    parsers: tuple[Callable[[str], datetime], ...] = (
        parsedate_to_datetime,
        datetime.fromisoformat,
    )
    for parse in parsers:
        try:
            moment = parse(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
    return None
