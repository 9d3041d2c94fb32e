"""JSON text for stored and published values (storage/json_text.py): whatever the encoder, the
standard library reads back what it would have read from `json.dumps`."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from storage.json_text import json_text

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text() | st.integers() | st.booleans(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_VALUES)
def test_any_value_reads_back_as_the_standard_encoding_of_it(value: object) -> None:
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


def test_integers_past_64_bits_and_lone_surrogates_are_encoded_too() -> None:
    value = {"big": 2**70, "negative": -(2**64), "half": "\ud800"}
    assert json.loads(json_text(value)) == value


def test_keys_that_are_not_text_become_text() -> None:
    assert json.loads(json_text({1: "one", None: "none", 2.5: "x"})) == {
        "1": "one",
        "null": "none",
        "2.5": "x",
    }
