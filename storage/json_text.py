"""JSON text for the values the batch writer stores and the bus carries, encoded fast."""

from __future__ import annotations

import json

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
"""Keys that are not text become text, as `json.dumps` makes them."""


def json_text(value: object) -> str:
    """`value` as JSON text: orjson's (far cheaper than `json.dumps`, and paid for several
    values of every ingested event: docs/performance.md), or the standard library's for what
    orjson refuses (an integer past 64 bits, a lone surrogate), so that every value encodes as
    it did before."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)
