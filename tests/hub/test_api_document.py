"""The OpenAPI document bounds every input, and its patterns say exactly what the decoders take."""

from __future__ import annotations

import re
from base64 import b64decode
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from hub.api.files import BASE64
from hub.api.framework import INSTANT
from hub.api.openapi import build_openapi
from hub.api.paging import CURSOR_PATTERN, MAX_CURSOR_LENGTH, decode_cursor, encode_cursor
from hub.app import api_routes
from timeline.models.base import MAX_BIGINT

DOCUMENT = build_openapi(api_routes())


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _inputs() -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, schema) for every value a client sends: parameters, then bodies to the leaves."""
    pending: list[tuple[str, dict[str, Any]]] = []
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for parameter in operation["parameters"]:
                pending.append((f"{method} {path} {parameter['name']}", parameter["schema"]))
            if "requestBody" in operation:
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                pending.append((f"{method} {path} body", body))
    while pending:
        where, schema = pending.pop()
        schema = _resolve(schema)
        yield where, schema
        pending += [(f"{where}.{n}", s) for n, s in schema.get("properties", {}).items()]
        pending += [(f"{where}[]", schema["items"])] if "items" in schema else []
        pending += [(where, branch) for branch in schema.get("anyOf", [])]


def test_every_input_states_its_bounds() -> None:
    unbounded = []
    for where, schema in _inputs():
        kind = schema.get("type")
        if kind == "integer" and not {"minimum", "maximum"} <= set(schema):
            unbounded.append(f"{where}: integer without minimum and maximum")
        if kind == "string" and "enum" not in schema:
            pattern = schema.get("pattern")
            if "maxLength" not in schema or pattern is None:
                unbounded.append(f"{where}: string without maxLength and pattern")
            elif re.search(pattern, "\x00") or re.search(pattern, "a\x00a"):
                unbounded.append(f"{where}: its pattern lets U+0000 through")
        if kind == "array" and "maxItems" not in schema:
            unbounded.append(f"{where}: array without maxItems")
    assert unbounded == []


def test_every_operation_with_a_body_documents_bad_json_and_too_large() -> None:
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                assert {"400", "413"} <= set(operation["responses"]), (method, path)


@given(st.from_regex(BASE64, fullmatch=True))
def test_what_the_base64_pattern_admits_decodes(text: str) -> None:
    b64decode(text, validate=True)


@given(st.from_regex(INSTANT, fullmatch=True))
def test_what_the_instant_pattern_admits_is_read_unless_the_calendar_lacks_the_day(
    text: str,
) -> None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        assert "day is out of range for month" in str(error)
    else:
        assert moment.utcoffset() is not None


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=MAX_BIGINT),
)
def test_every_cursor_given_out_matches_the_pattern_and_decodes(moment: datetime, id: int) -> None:
    cursor = encode_cursor(moment, id)
    assert re.fullmatch(CURSOR_PATTERN, cursor) and len(cursor) <= MAX_CURSOR_LENGTH
    assert decode_cursor(cursor, datetime, int) == (moment, id)
