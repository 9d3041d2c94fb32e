"""Entities move between the Bot API's UTF-16 offsets and string indices without loss."""

from __future__ import annotations

import pytest
from hypothesis import given

from channels.telegram.entities import FormattedText, InvalidEntities, TextEntity
from channels.telegram.utf16 import Utf16Index

from .strategies import formatted_texts


def test_utf16_lengths() -> None:
    assert Utf16Index("سلام").length == 4
    assert Utf16Index("👋").length == 2
    assert Utf16Index("a\u200cb👍\U0001f3fd").length == 7


def test_offsets_both_ways_around_an_emoji() -> None:
    index = Utf16Index("ab👋c")
    assert [index.units_at(i) for i in range(5)] == [0, 1, 2, 4, 5]
    assert [index.index_of(u) for u in (0, 1, 2, 4, 5)] == [0, 1, 2, 3, 4]
    for inside_or_outside in (3, 6, -1):
        with pytest.raises(ValueError):
            index.index_of(inside_or_outside)


@given(formatted_texts())
def test_to_the_bot_api_and_back_is_lossless(text: FormattedText) -> None:
    sent = text.to_bot_api()
    assert FormattedText.from_bot_api(text.text, sent) == text
    units = text.text.encode("utf-16-le")
    for entity, item in zip(text.entities, sent, strict=True):
        span = units[2 * item["offset"] : 2 * (item["offset"] + item["length"])]
        assert span.decode("utf-16-le") == text.text[entity.start : entity.end]


def test_the_extra_fields_of_each_type_are_kept() -> None:
    text = "Sara wrote print(1) 👍"
    sent = [
        {
            "type": "text_mention",
            "offset": 0,
            "length": 4,
            "user": {"id": 123456789, "is_bot": False, "first_name": "Sara"},
        },
        {"type": "pre", "offset": 11, "length": 8, "language": "python"},
        {
            "type": "custom_emoji",
            "offset": 20,
            "length": 2,
            "custom_emoji_id": "5368324170671202286",
        },
        {"type": "text_link", "offset": 5, "length": 5, "url": "https://example.com"},
    ]
    read = FormattedText.from_bot_api(text, sent)
    assert read.entities == (
        TextEntity("text_mention", 0, 4, user_id=123456789),
        TextEntity("pre", 11, 19, language="python"),
        TextEntity("custom_emoji", 20, 21, custom_emoji_id="5368324170671202286"),
        TextEntity("text_link", 5, 10, url="https://example.com"),
    )
    assert read.to_bot_api()[0] == {
        "type": "text_mention",
        "offset": 0,
        "length": 4,
        "user": {"id": 123456789},
    }
    assert read.to_bot_api()[1:] == sent[1:]


def test_no_entities_is_an_empty_tuple() -> None:
    assert FormattedText.from_bot_api("hi", None) == FormattedText("hi", ())
    assert FormattedText.from_bot_api("hi", []).to_bot_api() == []


@pytest.mark.parametrize(
    ("entity", "reason"),
    [
        ("bold", "not an object"),
        ({"offset": 0, "length": 1}, "no type"),
        ({"type": "bold", "offset": -1, "length": 1}, "whole offset"),
        ({"type": "bold", "offset": 0, "length": 1.5}, "positive length"),
        ({"type": "bold", "offset": True, "length": 1}, "whole offset"),
        ({"type": "bold", "offset": 3, "length": 1}, "inside a surrogate pair"),
        ({"type": "bold", "offset": 0, "length": 9}, "outside the text's 5 units"),
        ({"type": "text_mention", "offset": 0, "length": 1, "user": {}}, "without a user id"),
    ],
)
def test_entities_that_are_not_spans_of_the_text(entity: object, reason: str) -> None:
    with pytest.raises(InvalidEntities, match=reason):
        FormattedText.from_bot_api("ab👋c", [entity])
