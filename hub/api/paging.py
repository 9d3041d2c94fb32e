"""Opaque keyset cursors: the last row's sort key, encoded; never OFFSET."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from hub.errors import invalid


def encode_cursor(*key: Any) -> str:
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded))
        if len(values) != len(types):
            raise ValueError
        return tuple(
            datetime.fromisoformat(v) if t is datetime else t(v)
            for v, t in zip(values, types, strict=True)
        )
    except (ValueError, TypeError):
        raise invalid({"cursor": "not a cursor this endpoint returned"}) from None
