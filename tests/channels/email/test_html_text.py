"""Tests for channels.email.html_text: HTML rendered as readable plain text."""

from __future__ import annotations

from channels.email.html_text import html_to_text


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
