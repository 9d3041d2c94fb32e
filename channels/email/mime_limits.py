"""Refuses, before it is parsed, a mail whose MIME structure is too large to parse in fair time.

Python's email parser spends about a quarter of a millisecond on each part and more on each
level of nesting: 20,000 one-line parts (720 KB) took 10 s, 2,000 nested multiparts (140 KB)
took 17 s before failing; and on each parameter of a Content-Type or Content-Disposition
field, more the more there are: 20,000 (629 KB) took 7.5 s. Anyone can mail the support
address. Real mail has a handful of multiparts and rarely a hundred parts; a mail past the
limits is quarantined (its raw bytes kept) instead of holding its mailbox's import.
"""

from __future__ import annotations

import re

from channels.base import MalformedPayload

MAX_MULTIPARTS = 200
"""Boundaries a mail may declare: one per multipart, forwarded mails' included."""
MAX_MIME_PARTS = 2_000
"""Delimiter lines of those boundaries: one before each part, and one closing each multipart."""

MAX_PARAMETER_FIELD_BYTES = 16 * 1024
"""A Content-Type or Content-Disposition field, its folded lines included: a filename of 255
characters, percent-encoded, takes under 2 KB."""

_PARAMETER_FIELD = re.compile(
    rb"^(content-(?:type|disposition))[ \t]*:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*",
    re.IGNORECASE | re.MULTILINE,
)
_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))', re.IGNORECASE)


def check_mime_size(data: bytes) -> None:
    """MalformedPayload if a Content-Type or Content-Disposition field is longer than
    MAX_PARAMETER_FIELD_BYTES, if the mail declares more than MAX_MULTIPARTS boundaries, or if
    its lines delimit more than MAX_MIME_PARTS parts with them. Three scans of the bytes, no
    parsing."""
    for field in _PARAMETER_FIELD.finditer(data):
        if len(field.group()) > MAX_PARAMETER_FIELD_BYTES:
            raise MalformedPayload(
                f"a {field.group(1).decode()} field longer than {MAX_PARAMETER_FIELD_BYTES} "
                "bytes: too large to parse"
            )
    boundaries = set()
    for declared in _BOUNDARY.finditer(data):
        boundaries.add(declared.group(1) or declared.group(2))
        if len(boundaries) > MAX_MULTIPARTS:
            raise MalformedPayload(
                f"more than {MAX_MULTIPARTS} MIME multiparts: too large a structure to parse"
            )
    if not boundaries:
        return
    delimiters = re.compile(
        rb"^--(?:"
        + b"|".join(re.escape(b) for b in sorted(boundaries, key=len, reverse=True))
        + rb")(?:--)?[ \t]*\r?$",
        re.MULTILINE,
    )
    for count, _ in enumerate(delimiters.finditer(data), start=1):
        if count > MAX_MIME_PARTS:
            raise MalformedPayload(
                f"more than {MAX_MIME_PARTS} MIME parts: too large a structure to parse"
            )
