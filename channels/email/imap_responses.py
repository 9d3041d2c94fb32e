"""IMAP wire syntax: FETCH literals, SEARCH answers, response codes, quoted mailbox names."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from aioimaplib import aioimaplib

from channels.email.imap_errors import ImapConnectionLost
from channels.email.uid_sets import UidRange, parse_uid_set, uid_ranges

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    """One message exactly as the server stores it, with its UID and flags."""

    uid: int
    raw: bytes
    flags: tuple[str, ...] = ()


def encode_mailbox_name(name: str) -> str:
    """A mailbox name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 5.1.3)."""
    encoded: list[str] = []
    pending: list[str] = []
    for char in name:
        if " " <= char <= "~":
            encoded.append(_utf7_run(pending))
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    encoded.append(_utf7_run(pending))
    return quote_string("".join(encoded))


def _utf7_run(chars: list[str]) -> str:
    if not chars:
        return ""
    packed = base64.b64encode("".join(chars).encode("utf-16-be")).decode("ascii")
    chars.clear()
    return "&" + packed.rstrip("=").replace("/", ",") + "-"


def quote_string(text: str) -> str:
    """Text as an IMAP quoted string: backslashes and double quotes escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_FETCH_START = re.compile(rb"^\d+ FETCH \(")
_FETCH_UID = re.compile(rb"[( ]UID (\d+)")
_FETCH_FLAGS = re.compile(rb"[( ]FLAGS \(([^)]*)\)")
_LITERAL_START = re.compile(rb"\{(\d+)\}$")
_BODY_LITERAL = re.compile(rb"BODY\[\] \{(\d+)\}$")

Item = tuple[bool, bytes]
"""A piece of a FETCH response: (is_literal, bytes)."""


def parse_fetch_lines(lines: Sequence[bytes | bytearray]) -> list[FetchedMessage]:
    """Messages from aioimaplib's FETCH response lines (the tagged completion line cut off).

    aioimaplib gives text lines as bytes and each literal as the element after the line that
    announced it (`... {123}`), currently a bytearray; literals are told apart by position,
    not type. FETCH responses without a UID and a BODY[] (flag updates) are skipped.
    """
    messages = []
    for record in _fetch_records(_items(lines)):
        message = _fetched_message(record)
        if message is not None:
            messages.append(message)
    return messages


def _items(lines: Sequence[bytes | bytearray]) -> Iterator[Item]:
    literal_next = False
    for line in lines:
        yield literal_next, bytes(line)
        literal_next = not literal_next and _LITERAL_START.search(line) is not None


def _fetch_records(items: Iterable[Item]) -> Iterator[list[Item]]:
    record: list[Item] = []
    for is_literal, data in items:
        if not is_literal and _FETCH_START.match(data):
            if record:
                yield record
            record = [(is_literal, data)]
        elif record:
            record.append((is_literal, data))
    if record:
        yield record


def _fetched_message(record: list[Item]) -> FetchedMessage | None:
    text = b" ".join(data for is_literal, data in record if not is_literal)
    uid = _FETCH_UID.search(text)
    if uid is None:
        return None
    raw = _body_literal(record)
    if raw is None:
        if b"BODY[]" in text:
            log.error("IMAP server sent no body for UID %s: %r", uid.group(1), text[:200])
        return None
    flags = _FETCH_FLAGS.search(text)
    flag_names = tuple(flags.group(1).decode("ascii", "replace").split()) if flags else ()
    return FetchedMessage(uid=int(uid.group(1)), raw=raw, flags=flag_names)


def _body_literal(record: list[Item]) -> bytes | None:
    for (text_is_literal, text), (is_literal, literal) in zip(record, record[1:], strict=False):
        declared = None if text_is_literal or not is_literal else _BODY_LITERAL.search(text)
        if declared is None:
            continue
        if len(literal) != int(declared.group(1)):
            raise ImapConnectionLost(
                f"IMAP literal truncated: got {len(literal)} of {declared.group(1)} bytes"
            )
        return literal
    return None


_FETCH_SIZE = re.compile(rb"[( ]RFC822\.SIZE (\d+)")


def parse_sizes(lines: Sequence[bytes | bytearray]) -> list[tuple[int, int]]:
    """(uid, size) of each message a `UID FETCH ... (RFC822.SIZE)` answered."""
    sizes = []
    for line in lines:
        uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
        if _FETCH_START.match(line) and uid is not None and size is not None:
            sizes.append((int(uid[1]), int(size[1])))
    return sizes


def response_text(response: aioimaplib.Response) -> str:
    """The result and the tagged line's text (`NO [NONEXISTENT] ...`), for error messages."""
    if not response.lines:
        return response.result
    last = response.lines[-1]
    return f"{response.result} {bytes(last).decode('utf-8', 'replace')}".strip()


def response_code_number(lines: Sequence[bytes | bytearray], code: bytes) -> int | None:
    """The number of the first `[CODE n]` response code in the lines (UIDVALIDITY, UIDNEXT)."""
    pattern = re.compile(rb"\[" + re.escape(code) + rb" (\d+)\]")
    for line in lines:
        match = pattern.search(bytes(line))
        if match:
            return int(match.group(1))
    return None


def search_ranges(response: aioimaplib.Response, extended: bool) -> list[UidRange]:
    """The UIDs a UID SEARCH found, from an ESEARCH `ALL` set or a plain SEARCH list."""
    lines = [bytes(line) for line in response.lines[:-1]]
    if extended:
        for line in lines:
            match = re.search(rb"\bALL ([0-9:,]+)", line)
            if match:
                return parse_uid_set(match.group(1).decode("ascii"))
        return []
    return uid_ranges(int(token) for line in lines for token in line.split() if token.isdigit())


def is_new_mail_push(lines: Sequence[bytes | bytearray]) -> bool:
    """Whether pushed lines (during IDLE) announce new mail: EXISTS or RECENT."""
    return any(re.match(rb"^\d+ (EXISTS|RECENT)\b", bytes(line)) for line in lines)
