"""GSM-7 / UCS-2 detection and segment counting, by example and by property."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.sms.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    MAX_BODY_CHARS,
    Encoding,
    SegmentInfo,
    count_segments,
    encoding_for,
    segment_info,
    split_segments,
    too_long,
)

PERSIAN = "سلام، سفارش من کی می‌رسد؟"


def test_gsm_tables_have_the_standard_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points minus the escape code
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION
    assert {"@", "£", "Δ", "ß", "ñ", "à", "\n", "\r"} <= GSM7_BASIC
    assert {"€", "[", "]", "{", "}", "\\", "^", "~", "|", "\f"} == GSM7_EXTENSION


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Hello, world!", Encoding.GSM7),
        ("Prix: 5€ [promo] ~ {ok}", Encoding.GSM7),
        ("Ça coûte", Encoding.UCS2),  # û is not in GSM 03.38
        ("Çà et là", Encoding.GSM7),
        (PERSIAN, Encoding.UCS2),
        ("thanks 🙏", Encoding.UCS2),
        ("", Encoding.GSM7),
    ],
)
def test_encoding(text: str, encoding: Encoding) -> None:
    assert encoding_for(text) is encoding


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # 160 septets
        ("€" * 81, 2),  # 162 septets
        ("a" * 152 + "€" + "a" * 10, 2),  # the escape pair moves whole into part two
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("🙂" * 35, 1),  # 70 UTF-16 code units
        ("🙂" * 36, 2),
        ("🙂" * 67, 3),  # 33 pairs per part: a pair is never split
        (PERSIAN, 1),
        (PERSIAN * 3, 2),
    ],
)
def test_segment_counts(text: str, segments: int) -> None:
    assert count_segments(text) == segments


def test_segment_info_reports_units() -> None:
    assert segment_info("a€") == SegmentInfo(Encoding.GSM7, units=3, segments=1)
    assert segment_info("ok 🙂") == SegmentInfo(Encoding.UCS2, units=5, segments=1)


def test_split_keeps_escape_pairs_and_surrogates_whole() -> None:
    text = "a" * 152 + "€" + "b" * 10  # 164 septets: two parts of at most 153
    assert split_segments(text) == ["a" * 152, "€" + "b" * 10]
    emoji = "x" + "🙂" * 40  # 81 code units; 1 + 33 pairs fill 67, a 34th pair would not fit
    assert split_segments(emoji) == ["x" + "🙂" * 33, "🙂" * 7]


def test_length_limit_is_twilios_1600_characters() -> None:
    assert MAX_BODY_CHARS == 1600
    assert not too_long("a" * 1600)
    assert too_long("a" * 1601)


# -- properties ------------------------------------------------------------------------------

GSM_BASIC_TEXT = st.text(alphabet=sorted(GSM7_BASIC), max_size=700)
UCS2_BMP_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x0600, max_codepoint=0x06FF), min_size=1, max_size=400
)
ANY_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(sorted(GSM7_BASIC | GSM7_EXTENSION)),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=600,
)


def reference_count(units: int, single: int, per_part: int) -> int:
    """The textbook rule: one segment if it fits, else ceil(units / per-part size)."""
    return 1 if units <= single else math.ceil(units / per_part)


def reference_costs(text: str) -> tuple[Encoding, list[int]]:
    """The encoding and the cost of each character, worked out from scratch for the check."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return Encoding.GSM7, [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return Encoding.UCS2, [len(ch.encode("utf-16-le")) // 2 for ch in text]


def reference_greedy_count(costs: list[int], single: int, per_part: int) -> int:
    """Fill each part until the next character does not fit, then open a new one."""
    if sum(costs) <= single:
        return 1
    count, room = 1, per_part
    for cost in costs:
        if cost > room:
            count, room = count + 1, per_part
        room -= cost
    return count


@given(GSM_BASIC_TEXT)
def test_plain_gsm_text_follows_the_textbook_rule(text: str) -> None:
    assert count_segments(text) == reference_count(len(text), 160, 153)


@given(UCS2_BMP_TEXT)
def test_bmp_unicode_text_follows_the_textbook_rule(text: str) -> None:
    assert count_segments(text) == reference_count(len(text), 70, 67)


@given(ANY_TEXT)
def test_any_text_counts_like_the_greedy_reference(text: str) -> None:
    encoding, costs = reference_costs(text)
    single, per_part = (160, 153) if encoding is Encoding.GSM7 else (70, 67)
    assert encoding_for(text) is encoding
    assert segment_info(text) == SegmentInfo(
        encoding, units=sum(costs), segments=reference_greedy_count(costs, single, per_part)
    )
    assert reference_count(sum(costs), single, per_part) <= count_segments(text)


@given(ANY_TEXT)
def test_parts_rejoin_fit_and_are_full(text: str) -> None:
    encoding, costs = reference_costs(text)
    single, per_part = (160, 153) if encoding is Encoding.GSM7 else (70, 67)
    parts = split_segments(text)
    assert "".join(parts) == text
    assert len(parts) == count_segments(text)
    limit = single if len(parts) == 1 else per_part
    start = 0
    for number, part in enumerate(parts, start=1):
        used = sum(costs[start : start + len(part)])
        assert used <= limit
        start += len(part)
        if number < len(parts):  # a part closes only when the next character would not fit
            assert part and used + costs[start] > per_part
