"""Finds who wrote a forwarded mail: the From line of the first forwarded block in its text."""

from __future__ import annotations

import re
from email.utils import parseaddr

from channels.email.quoting import FORWARD_MARKER, FROM_KEYS

_HEADER_LINE = re.compile(r"^\s*\*?([^:*]{1,20})\*?\s*:\s*(.+)$")
_MAX_LINES_AFTER_MARKER = 8


def forwarded_author(text: str) -> str | None:
    """The lower-cased address on the From line right after a forward marker, if any.

    "---------- Forwarded message ---------\\nFrom: Ann <ann@customer.test>" -> ann@customer.test
    """
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if FORWARD_MARKER.match(line.strip()):
            return _from_line(lines[index + 1 : index + 1 + _MAX_LINES_AFTER_MARKER])
    return None


def _from_line(lines: list[str]) -> str | None:
    for line in lines:
        match = _HEADER_LINE.match(line)
        if match and match.group(1).strip().lower() in FROM_KEYS:
            _, address = parseaddr(match.group(2))
            if "@" in address:
                return address.strip().lower()
    return None
