"""Tests for channels.email.html: active content removed, mail formatting kept."""

from __future__ import annotations

import pytest

from channels.email.html import MAX_HTML_CHARS, MAX_HTML_TAGS, sanitize_html, within_limits


@pytest.mark.parametrize(
    "attack",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="jav&#x09;ascript:alert(1)">x</a>',
        '<a href="&#106;avascript:alert(1)">x</a>',
        "<iframe src=//evil.example></iframe>",
        '<object data="x.swf"></object>',
        "<style>@import url(//evil.example/x.css)</style>",
        '<div style="background:url(javascript:alert(1))">x</div>',
        "<svg><animate onbegin=alert(1) attributeName=x></svg>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        '<body onload="alert(1)">x</body>',
        '<base href="javascript:alert(1)//">',
        '<form action="javascript:alert(1)"><button>x</button></form>',
        '<a href="vbscript:msgbox(1)">x</a>',
        '<img src="data:text/html;base64,PHNjcmlwdD4=">',
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    ],
)
def test_sanitize_html_removes_active_content(attack: str) -> None:
    cleaned = sanitize_html(f"<p>before</p>{attack}<p>after</p>").lower()
    for forbidden in (
        "<script",
        "onerror",
        "onload",
        "onbegin",
        "javascript:",
        "vbscript:",
        "<iframe",
        "<object",
        "<style",
        "@import",
        "data:text",
        "<base",
    ):
        assert forbidden not in cleaned
    assert "before" in cleaned  # (an unclosed <style> legitimately swallows what follows)


def test_sanitize_html_keeps_mail_formatting() -> None:
    html = (
        '<table cellpadding="4"><tr><td bgcolor="#eeeeee" style="color: #333; '
        'font-weight: bold">cell</td></tr></table><font color="red">red</font>'
        '<img src="cid:logo@x" alt="logo"><img src="data:image/png;base64,iVBORw0KGgo=">'
        '<blockquote type="cite">quoted</blockquote>'
    )
    cleaned = sanitize_html(html)
    assert '<td bgcolor="#eeeeee" style="color:#333;font-weight:bold">cell</td>' in cleaned
    assert '<font color="red">red</font>' in cleaned
    assert '<img src="cid:logo@x" alt="logo">' in cleaned
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in cleaned
    assert '<blockquote type="cite">quoted</blockquote>' in cleaned


def test_the_limits_count_start_tags_and_characters() -> None:
    assert within_limits("<p>" * MAX_HTML_TAGS + "</p> 1 < 2 <!-- a comment -->")
    assert not within_limits("<p>" * (MAX_HTML_TAGS + 1))
    assert within_limits("x" * MAX_HTML_CHARS)
    assert not within_limits("x" * (MAX_HTML_CHARS + 1))
