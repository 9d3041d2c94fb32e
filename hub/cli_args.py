"""What the switchboard CLI accepts as arguments: text in UTF-8, and whole numbers written in
the digits 0-9 within what their column holds; anything else is a usage error (as the API
answers 422)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

from timeline.models.base import MAX_BIGINT, MAX_INTEGER

_ASCII_DIGITS = re.compile(r"[0-9]+")


def whole_number(lowest: int, highest: int) -> Callable[[str], int]:
    """A type for a number from `lowest` to `highest`: `int` alone would also read '٢' as 2
    and pass a number past 64 bits on to the database, whose refusal ended in a traceback."""

    def parse(text: str) -> int:
        if _ASCII_DIGITS.fullmatch(text) and lowest <= int(text) <= highest:
            return int(text)
        raise argparse.ArgumentTypeError(
            f"expected a whole number from {lowest} to {highest} in the digits 0-9, got {text!r}"
        )

    return parse


def not_utf8(arguments: list[str]) -> str | None:
    """The first argument whose bytes were not UTF-8, if any. Python keeps such bytes as lone
    surrogates, which no database stores (a name or address made of them ended in a
    traceback); the argument is shown with the bytes escaped."""
    for argument in arguments:
        try:
            argument.encode()
        except UnicodeEncodeError:
            return argument.encode(errors="surrogateescape").decode(errors="backslashreplace")
    return None


row_id = whole_number(1, MAX_BIGINT)
"""A row's id: a workspace, user, channel, token, customer or quarantined payload."""

count = whole_number(0, MAX_INTEGER)
"""How many of something, kept in an INTEGER column (an agent's capacity)."""

at_least_one = whole_number(1, MAX_INTEGER)
"""How many, at least one (processes to serve from)."""
