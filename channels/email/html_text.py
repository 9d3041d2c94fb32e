"""Renders (sanitized) email HTML as readable plain text."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

from channels.email.html import DROPPED_WITH_CONTENT

_BLOCKS = {
    "address",
    "article",
    "aside",
    "center",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "figcaption",
    "figure",
    "footer",
    "header",
    "li",
    "nav",
    "section",
    "summary",
    "tr",
    "caption",
}
_PARAGRAPHS = {
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "hr",
}
_SKIPPED = DROPPED_WITH_CONTENT | {"head"}
MAX_QUOTE_MARKS = 32
"""Quotes nested deeper are marked as this deep: every line carries its marks, so 40,000 nested
blockquotes (480 KB of HTML) would otherwise render as 1.6 GB of `> `."""
_TAG = re.compile(r"<[^<>]*>?")


class _TextRenderer(HTMLParser):
    """Renders HTML as plain text: blocks on lines, lists as `- `, blockquotes as `> `."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.pre_depth = 0
        self.skip_depth = 0
        self.lists: list[int] = []  # 0 for <ul>, the next number for <ol>
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in _SKIPPED:
            self.skip_depth += 1
        elif tag == "br":
            self._flush(keep_empty=True)
        elif tag in _PARAGRAPHS or tag in _BLOCKS:
            self._start_block(tag, values)
        elif tag in ("td", "th") and self.current:
            self.current.append("  ")
        elif tag == "img" and values.get("alt"):
            self.current.append(f"[{values['alt']}]")
        elif tag == "a":
            self.links.append(values.get("href") or "")

    def _start_block(self, tag: str, values: dict[str, str | None]) -> None:
        self._flush(blank=tag in _PARAGRAPHS)
        if tag == "blockquote":
            self.quote_depth += 1
        elif tag == "pre":
            self.pre_depth += 1
        elif tag == "ul":
            self.lists.append(0)
        elif tag == "ol":
            start = values.get("start") or ""
            self.lists.append(int(start) if start.isdigit() else 1)
        elif tag == "hr":
            self._emit("-" * 20)
        elif tag == "li":
            number = self.lists[-1] if self.lists else 0
            self.current.append(f"{number}. " if number else "- ")
            if number:
                self.lists[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag == "a" and self.links:
            href = self.links.pop()
            if href.startswith(("http://", "https://")) and href not in "".join(self.current):
                self.current.append(f" <{href}>")
        elif tag in _PARAGRAPHS or tag in _BLOCKS:
            self._flush()
            if tag == "blockquote":
                self.quote_depth = max(0, self.quote_depth - 1)
            elif tag == "pre":
                self.pre_depth = max(0, self.pre_depth - 1)
            elif tag in ("ul", "ol") and self.lists:
                self.lists.pop()
            if tag in _PARAGRAPHS:
                self._emit("")

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            first, *rest = data.split("\n")
            self.current.append(first)
            for line in rest:
                self._flush(keep_empty=True)
                self.current.append(line)
            return
        self.current.append(data)

    def _flush(self, *, blank: bool = False, keep_empty: bool = False) -> None:
        text = "".join(self.current)
        self.current = []
        text = text.rstrip() if self.pre_depth else " ".join(text.split())
        if text or keep_empty:
            self._emit(text)
        if blank:
            self._emit("")

    def _emit(self, text: str) -> None:
        prefix = "> " * min(self.quote_depth, MAX_QUOTE_MARKS)
        self.lines.append((prefix + text).rstrip() if text else prefix.rstrip())

    def text(self) -> str:
        self._flush()
        lines: list[str] = []
        for line in self.lines:
            if not line.strip("> ") and (not lines or not lines[-1].strip("> ")):
                if lines and len(line) < len(lines[-1]):
                    lines[-1] = line  # of two empty lines keep the less quoted one
                continue  # at most one empty line in a row, none at the start
            lines.append(line)
        return "\n".join(lines).replace("\xa0", " ").strip()


def html_to_text(html: str) -> str:
    """A readable plain-text rendering of (sanitized) HTML."""
    renderer = _TextRenderer()
    try:
        renderer.feed(html)
        renderer.close()
    except Exception:  # HTMLParser is lenient; keep what was rendered
        pass
    return renderer.text()


def tags_stripped(html: str) -> str:
    """The text of HTML too large to render, roughly: tags dropped, entities decoded, blank runs
    joined. Linear in the length whatever the markup (no parser, no nesting)."""
    text = unescape(_TAG.sub(" ", html))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)
