"""Opaque keyset cursors: the last row's sort key, encoded; never OFFSET. The page size."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field

from hub.api.framework import DIGITS_ONLY
from hub.errors import invalid
from timeline.models.base import MAX_BIGINT

CURSOR_PATTERN = r"^[A-Za-z0-9_-]+$"
MAX_CURSOR_LENGTH = 200
"""Ample for the longest key encoded here: a timestamp with an offset and a 19-digit id."""

Cursor = Annotated[
    str,
    Field(
        pattern=CURSOR_PATTERN,
        max_length=MAX_CURSOR_LENGTH,
        description="next_cursor of the previous page, as it was given",
    ),
]
PageLimit = Annotated[int, Field(ge=1, le=200, description="items per page"), DIGITS_ONLY]


class PageQuery(BaseModel):
    """A paged list's query: how many items, and where the previous page ended."""

    limit: PageLimit = 50
    cursor: Cursor | None = None


def encode_cursor(*key: Any) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """The key `encode_cursor` wrote into `cursor` (a `Cursor`: the query model has checked its
    spelling), each value checked as strictly as the column it is compared with: an id within
    BIGINT, a timestamp with its offset that UTC can hold. Whatever a client made up instead is
    refused with 422, never passed to the database."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
        if not isinstance(values, list) or len(values) != len(types):
            raise ValueError
        return tuple(_key_value(v, t) for v, t in zip(values, types, strict=True))
    except (ValueError, TypeError, OverflowError):  # binascii.Error is a ValueError
        raise invalid({"cursor": "not a cursor this endpoint returned"}) from None


def _key_value(value: Any, kind: type) -> Any:
    if kind is datetime:
        if not isinstance(value, str):
            raise TypeError
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError
        return moment.astimezone(UTC)
    if type(value) is not int or not 1 <= value <= MAX_BIGINT:
        raise ValueError
    return value
