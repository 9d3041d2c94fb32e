"""Argument types of the switchboard CLI: whole numbers written in the digits 0-9 and within
what their column holds, refused by argparse otherwise (as the API answers 422)."""

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


row_id = whole_number(1, MAX_BIGINT)
"""A row's id: a workspace, user, channel, token, customer or quarantined payload."""

count = whole_number(0, MAX_INTEGER)
"""How many of something, kept in an INTEGER column (an agent's capacity)."""

at_least_one = whole_number(1, MAX_INTEGER)
"""How many, at least one (processes to serve from)."""
