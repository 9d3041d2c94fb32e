"""A reply's HTML read as Telegram text and entities: what it shows, its formatting kept, what
Telegram cannot carry left as text; written back as HTML, Telegram reads the same."""

from __future__ import annotations

from typing import Any

import pytest

from channels.telegram.formatting import to_html
from channels.telegram.html_text import html_text
from channels.telegram.utf16 import Utf16Index

from .markup_reader import parse_html


def spans(html: str) -> tuple[str, list[tuple[str, str]]]:
    text = html_text(html)
    return text.text, [(e.type, text.text[e.start : e.end]) for e in text.entities]


def test_inline_formatting_becomes_entities() -> None:
    assert spans(
        "<b>a</b> <strong>b</strong> <i>c</i> <em>d</em> <u>e</u> <s>f</s> <del>g</del>"
    ) == (
        "a b c d e f g",
        [
            ("bold", "a"),
            ("bold", "b"),
            ("italic", "c"),
            ("italic", "d"),
            ("underline", "e"),
            ("strikethrough", "f"),
            ("strikethrough", "g"),
        ],
    )


def test_blocks_become_lines_and_whitespace_collapses_as_a_browser_shows_it() -> None:
    html = "<p>  Hello,\n   there </p><ul><li>one</li><li>two</li></ul><div>a<br>b</div>"
    assert spans(html) == ("Hello, there\n\n• one\n• two\n\na\nb", [])


def test_pre_keeps_its_spaces_and_is_one_code_block() -> None:
    assert spans("<pre><code>x  =  1\n  y</code></pre>") == (
        "x  =  1\n  y",
        [("pre", "x  =  1\n  y")],
    )


@pytest.mark.parametrize(
    ("href", "kept"),
    [
        ("https://example.com/a?b=1&c=2", True),
        ("http://example.com", True),
        ("tg://user?id=1", True),
        ("mailto:sara@example.com", False),
        (None, False),
    ],
)
def test_links_keep_targets_telegram_takes(href: str | None, kept: bool) -> None:
    attribute = f' href="{href.replace("&", "&amp;")}"' if href else ""
    text = html_text(f"see <a{attribute}>this</a>")
    assert text.text == "see this"
    assert [(e.type, e.url) for e in text.entities] == ([("text_link", href)] if kept else [])


def test_characters_and_tags_telegram_does_not_know_are_text() -> None:
    assert spans("<table><tr><td>a &lt; b &amp; c</td></tr></table><span>d</span>") == (
        "a < b & c\n\nd",
        [],
    )


@pytest.mark.parametrize(
    "html",
    [
        "<p>Your <b>parcel</b> left <i>to<b>day</b></i> 👋 سلام</p><p><a href='https://x.example'>x</a></p>",
        "<b>bold <i>both</b> italic</i> <code>a<b>b</b></code>",
        "<pre>  <b>code</b> &amp; &lt;tags&gt;</pre>",
    ],
)
def test_written_back_as_html_telegram_shows_each_character_as_formatted(html: str) -> None:
    text = html_text(html)
    shown, entities = parse_html(to_html(text))
    assert shown == text.text
    assert _styles(shown, entities) == _styles(text.text, text.to_bot_api())


def _styles(text: str, entities: list[dict[str, Any]]) -> list[set[tuple[str, str | None]]]:
    """Each UTF-16 unit's formatting; within code only the code itself, which is all Telegram
    shows there."""
    styles: list[set[tuple[str, str | None]]] = [set() for _ in range(Utf16Index(text).length)]
    for entity in entities:
        for unit in range(entity["offset"], entity["offset"] + entity["length"]):
            styles[unit].add((entity["type"], entity.get("url")))
    for unit in styles:
        code = {style for style in unit if style[0] in ("code", "pre")}
        if code:
            unit.intersection_update(code)
    return styles
