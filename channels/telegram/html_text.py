"""A reply's HTML (sanitized by the core) as a Telegram text with entities: bold, italic,
underline, strikethrough, code, pre and links kept, blocks as line breaks, any other tag
read for its text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from channels.telegram.entities import FormattedText, TextEntity

_STYLES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "kbd": "code",
    "samp": "code",
    "tt": "code",
    "pre": "pre",
    "a": "text_link",
}
_PARAGRAPHS = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "pre", "table"})
"""Blocks followed by an empty line, as a mail client shows them apart."""
_BLOCKS = _PARAGRAPHS | {"div", "li", "blockquote", "tr", "hr", "dl", "dt", "dd", "figcaption"}
"""Blocks that start on a line of their own."""
_LINK_SCHEMES = ("http://", "https://", "tg://")
"""What Telegram takes as a link's target; a link to anything else keeps only its text."""
_SPACES = re.compile(r"\s+")


def html_text(html: str) -> FormattedText:
    """The text the HTML shows, with the formatting Telegram can carry as entities."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.result()


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._text: list[str] = []
        self._length = 0
        self._space = False
        """A space is due before the next text (held back: none goes before a line break)."""
        self._open: list[tuple[str, int, str | None]] = []
        """Each open formatting tag: the tag, where its text starts, a link's target."""
        self._entities: list[TextEntity] = []
        self._in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._space = False
            self._append("\n")
            return
        if tag in _BLOCKS:
            self._break()
        if tag == "li":
            self._append("• ")
        if tag == "pre":
            self._in_pre += 1
        if tag in _STYLES:
            self._flush_space()
            href = dict(attrs).get("href") if tag == "a" else None
            self._open.append((tag, self._length, href))

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                _, start, href = self._open.pop(depth)
                self._close(tag, start, href)
                break
        if tag == "pre":
            self._in_pre = max(0, self._in_pre - 1)
        if tag in _BLOCKS:
            self._break(blank_line=tag in _PARAGRAPHS)

    def handle_data(self, data: str) -> None:
        if self._in_pre:
            self._flush_space()
            self._append(data)
            return
        text = _SPACES.sub(" ", data)
        if text.startswith(" "):
            self._space = self._space or not self._after_space()
            text = text[1:]
        if not text:
            return
        self._flush_space()
        self._space = text.endswith(" ")
        self._append(text.removesuffix(" "))

    def result(self) -> FormattedText:
        """The text without trailing line breaks, and the entities that still cover some of it."""
        text = "".join(self._text).rstrip("\n")
        kept = []
        for entity in self._entities:
            end = min(entity.end, len(text))
            if entity.start < end:
                kept.append(TextEntity(entity.type, entity.start, end, url=entity.url))
        return FormattedText(text, tuple(sorted(kept, key=lambda e: (e.start, -e.end))))

    def _close(self, tag: str, start: int, href: str | None) -> None:
        kind = _STYLES[tag]
        if kind == "text_link" and (href is None or not href.startswith(_LINK_SCHEMES)):
            return
        if kind == "code" and self._in_pre:  # the pre block is the code already
            return
        if start < self._length:
            self._entities.append(TextEntity(kind, start, self._length, url=href))

    def _append(self, text: str) -> None:
        if text:
            self._text.append(text)
            self._length += len(text)

    def _flush_space(self) -> None:
        if self._space:
            self._space = False
            self._append(" ")

    def _after_space(self) -> bool:
        """At the start, or after a space or line break: a space here would show nothing."""
        return not self._text or self._text[-1][-1].isspace()

    def _break(self, *, blank_line: bool = False) -> None:
        """A new line, unless the text is empty or already starts one; an empty line after
        a paragraph."""
        self._space = False
        if not self._text:
            return
        wanted = 2 if blank_line else 1
        self._append("\n" * max(0, wanted - self._trailing_newlines()))

    def _trailing_newlines(self) -> int:
        count = 0
        for piece in reversed(self._text):
            stripped = piece.rstrip("\n")
            count += len(piece) - len(stripped)
            if stripped:
                break
        return count
