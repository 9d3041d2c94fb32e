"""Tests for channels.email.html_text: HTML rendered as readable plain text."""

from __future__ import annotations

from channels.email.html_text import MAX_QUOTE_MARKS, html_to_text, tags_stripped


def test_html_to_text_rendering() -> None:
    html = (
        "<p>Intro &amp; more</p><ol><li>one</li><li>two</li></ol>"
        "<blockquote><p>quoted line</p><blockquote>deeper</blockquote></blockquote>"
        "<pre>  keep\n    spacing</pre><p>a<br>b<br><br>c</p>"
    )
    assert html_to_text(html) == (
        "Intro & more\n\n1. one\n2. two\n\n> quoted line\n>\n> > deeper\n\n"
        "  keep\n    spacing\n\na\nb\n\nc"
    )


def test_quotes_nested_past_the_limit_are_marked_as_deep_as_the_limit() -> None:
    """Each line carries its marks: unbounded, 40,000 nested quotes would render as GBs."""
    html = "<blockquote>" * (MAX_QUOTE_MARKS + 5) + "deep" + "</blockquote>" * (MAX_QUOTE_MARKS + 5)
    assert html_to_text(html) == "> " * MAX_QUOTE_MARKS + "deep"


def test_html_too_large_to_render_keeps_its_text_roughly() -> None:
    html = "<div>Order &amp; invoice</div><<<p>line\n\n<b>two</b>  words<br>"
    assert tags_stripped(html) == "Order & invoice line\ntwo words"
