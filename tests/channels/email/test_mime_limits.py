"""A mail whose MIME structure is too large to parse in fair time is refused before parsing
(and so quarantined); real mail, and text that merely looks like delimiters, is not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from channels.base import MalformedPayload
from channels.email.mime import parse_email
from channels.email.mime_limits import (
    MAX_MIME_PARTS,
    MAX_MULTIPARTS,
    MAX_PARAMETER_FIELD_BYTES,
    check_mime_size,
)

HEADERS = b"From: a@example.com\r\nTo: support@shop.example\r\nSubject: hi\r\nMIME-Version: 1.0\r\n"


def _parts(count: int) -> bytes:
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(count))
    return HEADERS + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n' + parts + b"--B--\r\n"


def _nested(depth: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    for level in range(depth):
        b = f"b{level}".encode()
        body = (
            b"Content-Type: multipart/mixed; boundary="
            + b
            + b"\r\n\r\n--"
            + b
            + b"\r\n"
            + body
            + b"\r\n--"
            + b
            + b"--\r\n"
        )
    return HEADERS + body


def _attachment(disposition: bytes) -> bytes:
    return (
        HEADERS
        + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        + b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment"
        + disposition
        + b"\r\n\r\nxyz\r\n--B--\r\n"
    )


def _continued_filename(segments: int) -> bytes:
    """An RFC 2231 filename in `segments` folded pieces of 22 bytes each."""
    return b"".join(b";\r\n filename*%d*=UTF-8''a%%20b" % n for n in range(segments))


def test_parts_up_to_the_limit_are_parsed() -> None:
    raw = _parts(MAX_MIME_PARTS - 1)  # and the closing delimiter
    parsed = parse_email(raw, channel_account_id=1, raw_ref="r", received_at=datetime.now(UTC))
    assert parsed.text.count("x") == MAX_MIME_PARTS - 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_parts(MAX_MIME_PARTS), f"more than {MAX_MIME_PARTS} MIME parts"),
        (_nested(MAX_MULTIPARTS + 1), f"more than {MAX_MULTIPARTS} MIME multiparts"),
        (
            _attachment(_continued_filename(MAX_PARAMETER_FIELD_BYTES // 20)),
            f"a Content-Disposition field longer than {MAX_PARAMETER_FIELD_BYTES} bytes",
        ),
    ],
    ids=["parts", "multiparts", "parameters"],
)
def test_a_larger_structure_is_refused_before_parsing(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload, match=reason):
        parse_email(raw, channel_account_id=1, raw_ref="r", received_at=datetime.now(UTC))


def test_lines_that_only_look_like_delimiters_do_not_count() -> None:
    """A pasted SQL script: thousands of `--` lines, and lines that begin with the boundary."""
    script = b"".join(b"-- step %d\r\n--Bonus line\r\n" % n for n in range(MAX_MIME_PARTS))
    raw = (
        HEADERS
        + b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\n'
        + b"Content-Type: text/plain\r\n\r\n"
        + script
        + b"--B--\r\n"
    )
    check_mime_size(raw)
    check_mime_size(HEADERS + b"\r\n" + script)  # no boundary declared at all


def test_a_long_but_fair_filename_is_parsed() -> None:
    """A 255-character name percent-encoded, in RFC 2231 pieces: under 2 KB."""
    segments = b"".join(
        b";\r\n filename*%d*=%s%s" % (n, b"UTF-8''" if n == 0 else b"", b"%C3%A9" * 17)
        for n in range(15)
    )
    parsed = parse_email(
        _attachment(segments), channel_account_id=1, raw_ref="r", received_at=datetime.now(UTC)
    )
    [attachment] = parsed.attachments
    assert attachment.meta.filename == "é" * 255
