"""MarkdownV2 and HTML written by channels/telegram/formatting.py read back, by a strict reader
of the Bot API's documented rules, into exactly the text and entities they were written from."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.telegram.entities import FormattedText, TextEntity
from channels.telegram.formatting import (
    escape_html,
    escape_html_attribute,
    escape_markdown_v2,
    escape_markdown_v2_code,
    escape_markdown_v2_link,
    to_html,
    to_markdown_v2,
)

from .markup_reader import MarkupError, parse_html, parse_markdown_v2
from .strategies import formatted_texts, nested_only, texts

PERSIAN = "سلام 👋 من سفارش\u200cام را دریافت نکردم 😟 (کد: ۴۸۲۱)."


def _entities(text: FormattedText) -> list[dict]:
    return sorted(text.to_bot_api(), key=lambda e: (e["offset"], -e["length"], e["type"]))


def _read(reader, markup: str) -> tuple[str, list[dict]]:  # type: ignore[no-untyped-def]
    text, entities = reader(markup)
    return text, sorted(entities, key=lambda e: (e["offset"], -e["length"], e["type"]))


def test_the_reader_refuses_what_telegram_refuses() -> None:
    for unescaped in ("1.5", "(a)", "a-b", "#tag", "x!", "a\\"):
        with pytest.raises(MarkupError):
            parse_markdown_v2(unescaped)
    for unescaped in ("a < b", "a & b", "<x>y</x>", "a &nbsp; b"):
        with pytest.raises(MarkupError):
            parse_html(unescaped)


@given(texts)
def test_escaped_markdown_v2_reads_back_as_the_same_plain_text(text: str) -> None:
    assert parse_markdown_v2(escape_markdown_v2(text)) == (text, [])


@given(texts)
def test_escaped_html_reads_back_as_the_same_plain_text(text: str) -> None:
    assert parse_html(escape_html(text)) == (text, [])


@given(texts.filter(bool))
def test_code_and_link_targets_are_escaped_for_their_own_context(text: str) -> None:
    code = "`" + escape_markdown_v2_code(text) + "`"
    assert parse_markdown_v2(code)[0] == text
    link = "[x](" + escape_markdown_v2_link(text) + ")"
    assert parse_markdown_v2(link)[1][0]["url"] == text
    assert parse_html(f'<a href="{escape_html_attribute(text)}">x</a>')[1][0]["url"] == text


def test_escaping_examples() -> None:
    assert escape_markdown_v2("v1.0 (beta) *new*") == "v1\\.0 \\(beta\\) \\*new\\*"
    assert escape_markdown_v2("C:\\path") == "C:\\\\path"
    assert escape_markdown_v2_code("a`b\\c.d") == "a\\`b\\\\c.d"
    assert escape_markdown_v2_link("https://e.com/a_(b)") == "https://e.com/a_(b\\)"
    assert escape_html('<b> & "x"') == '&lt;b&gt; &amp; "x"'
    assert escape_html_attribute('a"b&') == "a&quot;b&amp;"


def test_persian_round_trips_exactly() -> None:
    assert parse_markdown_v2(escape_markdown_v2(PERSIAN)) == (PERSIAN, [])
    assert parse_html(escape_html(PERSIAN)) == (PERSIAN, [])
    bold = FormattedText(PERSIAN, (TextEntity("bold", 10, 18), TextEntity("italic", 19, 21)))
    assert _read(parse_markdown_v2, to_markdown_v2(bold)) == (PERSIAN, _entities(bold))
    assert _read(parse_html, to_html(bold)) == (PERSIAN, _entities(bold))


@given(formatted_texts().map(nested_only))
def test_markdown_v2_reads_back_into_the_same_entities(text: FormattedText) -> None:
    assert _read(parse_markdown_v2, to_markdown_v2(text)) == (text.text, _entities(text))


@given(formatted_texts().map(nested_only))
def test_html_reads_back_into_the_same_entities(text: FormattedText) -> None:
    assert _read(parse_html, to_html(text)) == (text.text, _entities(text))


_GROUPS = (
    {"code", "pre"},
    {"text_link", "text_mention", "custom_emoji"},
    *({kind} for kind in ("bold", "italic", "underline", "strikethrough", "spoiler")),
)


@given(formatted_texts())
def test_overlapping_entities_still_cover_what_they_covered(text: FormattedText) -> None:
    """Markup nests and cannot put a code span in a code span, a link in a link, bold in bold:
    entities that cross are written in pieces covering the same characters (code excepted:
    nothing inside it is formatted)."""
    code = _covered(_entities(text), {"code", "pre"})
    for write, reader in ((to_markdown_v2, parse_markdown_v2), (to_html, parse_html)):
        plain, read = reader(write(text))
        assert plain == text.text
        for group in _GROUPS:
            expected, got = _covered(_entities(text), group), _covered(read, group)
            if "code" not in group:
                expected, got = expected - code, got - code
            assert expected == got, group


def _covered(entities: list[dict], kinds: set[str]) -> set[int]:
    return {
        unit
        for e in entities
        if e["type"] in kinds
        for unit in range(e["offset"], e["offset"] + e["length"])
    }


def test_italic_next_to_underline_is_kept_apart() -> None:
    """'_' + '__' would read as '__' + '_': an empty bold separates them, as the reference
    advises; inside a bold, another empty toggle does."""
    text = FormattedText("ab", (TextEntity("italic", 0, 1), TextEntity("underline", 1, 2)))
    assert to_markdown_v2(text) == "_a_**__b__"
    inside_bold = FormattedText("ab", (*text.entities, TextEntity("bold", 0, 2)))
    assert to_markdown_v2(inside_bold) == "*_a_~~__b__*"


def test_a_written_example() -> None:
    text = FormattedText(
        "Order 4821 (see https://e.com) print(1)",
        (
            TextEntity("bold", 0, 10),
            TextEntity("text_link", 16, 29, url="https://e.com/a)b"),
            TextEntity("pre", 31, 39, language="python"),
            TextEntity("url", 16, 29),
        ),
    )
    assert to_markdown_v2(text) == (
        "*Order 4821* \\(see [https://e\\.com](https://e.com/a\\)b)\\) ```python\nprint(1)```"
    )
    assert to_html(text) == (
        '<b>Order 4821</b> (see <a href="https://e.com/a)b">https://e.com</a>) '
        '<pre><code class="language-python">print(1)</code></pre>'
    )


@given(st.text(min_size=1))
def test_any_unicode_text_escapes_for_html(text: str) -> None:
    escaped = escape_html(text)
    assert "<" not in escaped and ">" not in escaped
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text
