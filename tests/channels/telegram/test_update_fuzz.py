"""No body gets anything but a parsed update, MalformedUpdate or UnsupportedUpdate: any JSON at
all, and every recorded update with any one of its values replaced by any JSON value."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from channels.telegram.errors import MalformedUpdate, UnsupportedUpdate
from channels.telegram.update import parse_update, read_update

FIXTURES = Path(__file__).with_name("fixtures")
UPDATES = [
    json.loads(path.read_bytes())
    for path in sorted(FIXTURES.glob("*__*.json"))
    if not path.name.startswith("malformed__not_json")
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a JSON document a value sits at."""
    found = [path] if path else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _replaced(document: Any, path: tuple, value: Any) -> Any:
    copy = json.loads(json.dumps(document))
    target = copy
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copy


def _parses_or_refuses(update: Any) -> None:
    with contextlib.suppress(MalformedUpdate, UnsupportedUpdate):
        read_update(update)


@given(json_values)
def test_any_json_is_parsed_or_refused(value: Any) -> None:
    _parses_or_refuses(value)


@given(st.binary(max_size=64))
def test_any_bytes_are_parsed_or_refused(body: bytes) -> None:
    with contextlib.suppress(MalformedUpdate, UnsupportedUpdate):
        parse_update(body)


@given(st.data())
def test_any_value_of_a_recorded_update_replaced_is_parsed_or_refused(data: st.DataObject) -> None:
    update = data.draw(st.sampled_from(UPDATES))
    path = data.draw(st.sampled_from(_paths(update)))
    _parses_or_refuses(_replaced(update, path, data.draw(json_values)))


@given(st.data())
def test_any_key_of_a_recorded_update_dropped_is_parsed_or_refused(data: st.DataObject) -> None:
    update = json.loads(json.dumps(data.draw(st.sampled_from(UPDATES))))
    path = data.draw(st.sampled_from([p for p in _paths(update) if isinstance(p[-1], str)]))
    target = update
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    _parses_or_refuses(update)
