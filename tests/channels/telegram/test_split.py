"""Splitting at Telegram's limit: parts join back into the text, fit the limit in UTF-16 units,
cut between paragraphs or words and outside entities whenever the window allows it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.telegram.entities import FormattedText, TextEntity
from channels.telegram.split import MAX_MESSAGE_UNITS, split_text

from .strategies import formatted_texts


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def joined(parts: list[FormattedText]) -> FormattedText:
    """The parts put back together, each part's entity pieces shifted back into place."""
    text, entities, shift = "", [], 0
    for part in parts:
        entities += [
            TextEntity(
                e.type,
                e.start + shift,
                e.end + shift,
                e.url,
                e.user_id,
                e.language,
                e.custom_emoji_id,
            )
            for e in part.entities
        ]
        text += part.text
        shift += len(part.text)
    return FormattedText(text, tuple(entities))


def coverage(text: FormattedText) -> set[tuple]:
    """Every (character, entity with its attributes) pair: equal for a text and its parts."""
    return {
        (i, e.type, e.url, e.user_id, e.language, e.custom_emoji_id)
        for e in text.entities
        for i in range(e.start, e.end)
    }


@given(formatted_texts(), st.integers(2, 40))
def test_parts_join_back_and_fit(text: FormattedText, limit: int) -> None:
    parts = split_text(text, limit)
    assert "".join(p.text for p in parts) == text.text
    assert all(p.text and units(p.text) <= limit for p in parts)
    assert coverage(joined(parts)) == coverage(text)
    assert all(0 <= e.start < e.end <= len(p.text) for p in parts for e in p.entities)


@given(formatted_texts(), st.integers(2, 40))
def test_each_cut_is_the_best_the_window_offers(text: FormattedText, limit: int) -> None:
    """The last line break outside entities when the window has one; else a cut after
    whitespace outside every entity (no entity split, no word broken) when it has one; else
    after whitespace (no word broken); else outside entities when it can."""
    parts = split_text(text, limit)

    def inside(c: int) -> bool:
        return any(e.start < c < e.end for e in text.entities)

    def after_space(c: int) -> bool:
        return text.text[c - 1].isspace()

    start = 0
    for part in parts[:-1]:
        cut = start + len(part.text)
        window = [
            c for c in range(start + 1, len(text.text) + 1) if units(text.text[start:c]) <= limit
        ]
        assert cut in window
        breaks = [c for c in window if text.text[c - 1] == "\n" and not inside(c)]
        if breaks:
            assert cut == max(breaks)
        elif any(after_space(c) and not inside(c) for c in window):
            assert after_space(cut) and not inside(cut)
        elif any(after_space(c) for c in window):
            assert after_space(cut)
        elif not all(inside(c) for c in window):
            assert not inside(cut)
        start = cut


@given(st.text(min_size=1), st.integers(2, 12))
def test_any_unicode_text_joins_back_and_fits(text: str, limit: int) -> None:
    parts = split_text(FormattedText(text), limit)
    assert "".join(p.text for p in parts) == text
    assert all(p.text and units(p.text) <= limit for p in parts)


def test_a_paragraph_break_is_preferred_to_a_later_space() -> None:
    text = FormattedText("first paragraph\nsecond one here")
    assert [p.text for p in split_text(text, 25)] == ["first paragraph\n", "second one here"]


def test_the_cut_moves_before_an_entity_rather_than_into_it() -> None:
    text = FormattedText("say hello to the new world", (TextEntity("bold", 13, 26),))
    parts = split_text(text, 20)
    assert [p.text for p in parts] == ["say hello to ", "the new world"]
    assert parts[1].entities == (TextEntity("bold", 0, 13),)


def test_an_entity_longer_than_the_limit_continues_in_the_next_part() -> None:
    link = TextEntity("text_link", 0, 23, url="https://example.com")
    parts = split_text(FormattedText("one two three four five", (link,)), 10)
    assert [p.text for p in parts] == ["one two ", "three ", "four five"]
    assert [p.entities for p in parts] == [
        (TextEntity("text_link", 0, 8, url="https://example.com"),),
        (TextEntity("text_link", 0, 6, url="https://example.com"),),
        (TextEntity("text_link", 0, 9, url="https://example.com"),),
    ]


def test_a_word_longer_than_the_limit_is_cut_but_not_inside_a_character() -> None:
    parts = split_text(FormattedText("ab👋👋"), 3)
    assert [p.text for p in parts] == ["ab", "👋", "👋"]
    assert [p.text for p in split_text(FormattedText("ab\u0301"), 2)] == ["a", "b\u0301"]
    assert [p.text for p in split_text(FormattedText("a👍\U0001f3fd"), 4)] == ["a", "👍\U0001f3fd"]
    assert [p.text for p in split_text(FormattedText("ab\u200dcd"), 3)] == ["a", "b\u200dc", "d"]


def test_a_text_of_nothing_but_joiners_is_still_cut() -> None:
    parts = split_text(FormattedText("\u200d" * 5), 2)
    assert [p.text for p in parts] == ["\u200d\u200d"] * 2 + ["\u200d"]


def test_persian_at_the_real_limit_round_trips_exactly() -> None:
    sentence = "سلام 👋 من سفارش\u200cام را دریافت نکردم 😟 لطفاً پیگیری کنید.\n"
    text = sentence * 120
    bold = TextEntity("bold", 5, 20)
    parts = split_text(FormattedText(text, (bold,)), MAX_MESSAGE_UNITS)
    assert len(parts) == 2
    assert "".join(p.text for p in parts) == text
    assert units(parts[0].text) <= MAX_MESSAGE_UNITS < units(parts[0].text + sentence)
    assert parts[0].text.endswith("\n")
    assert parts[0].entities == (bold,)


def test_a_text_within_the_limit_is_one_part() -> None:
    text = FormattedText("x" * MAX_MESSAGE_UNITS, (TextEntity("bold", 0, 1),))
    assert split_text(text) == [text]
    assert len(split_text(FormattedText("👋" * (MAX_MESSAGE_UNITS // 2 + 1)))) == 2


def test_a_limit_must_hold_any_character() -> None:
    with pytest.raises(ValueError):
        split_text(FormattedText("👋"), 1)
