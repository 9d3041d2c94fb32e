"""Escaping for MarkdownV2 and HTML, and writing a text with entities in either parse mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from channels.telegram.entities import FormattedText, TextEntity

_MARKDOWN_V2 = str.maketrans({char: "\\" + char for char in "\\_*[]()~`>#+-=|{}.!"})
_MARKDOWN_V2_CODE = str.maketrans({"\\": "\\\\", "`": "\\`"})
_MARKDOWN_V2_LINK = str.maketrans({"\\": "\\\\", ")": "\\)"})
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_HTML_ATTRIBUTE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})

WRITTEN_TYPES = frozenset(
    {
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
    }
)
"""The entity types written as markup. The rest are left as plain text: url, mention, hashtag,
email ... Telegram finds again by itself; blockquotes, which MarkdownV2 can only express as
whole lines, lose their quoting."""

_CODE_TYPES = ("code", "pre")
_GROUPS = {"pre": "code", "text_mention": "text_link", "custom_emoji": "text_link"}
"""Types markup cannot nest within one another: one code span, one link, at a time."""


def escape_markdown_v2(text: str) -> str:
    """Text for MarkdownV2 outside code and link targets: every reserved character, and the
    backslash itself, behind a backslash."""
    return text.translate(_MARKDOWN_V2)


def escape_markdown_v2_code(text: str) -> str:
    """Text inside MarkdownV2 `code` or ```pre```: only '`' and '\\' are escaped there."""
    return text.translate(_MARKDOWN_V2_CODE)


def escape_markdown_v2_link(url: str) -> str:
    """The (...) target of a MarkdownV2 link or custom emoji: only ')' and '\\' are escaped."""
    return url.translate(_MARKDOWN_V2_LINK)


def escape_html(text: str) -> str:
    """Text for the HTML parse mode: '&', '<' and '>' as the entities Telegram reads."""
    return text.translate(_HTML)


def escape_html_attribute(value: str) -> str:
    """A double-quoted attribute value (a link's href) for the HTML parse mode."""
    return value.translate(_HTML_ATTRIBUTE)


class _Syntax(Protocol):
    escape: Callable[[str], str]
    escape_code: Callable[[str], str]

    def open(self, entity: TextEntity) -> str: ...

    def close(self, entity: TextEntity) -> str: ...

    def separate(self, before: str, after: str, open_types: set[str]) -> str: ...


class _MarkdownV2:
    escape = staticmethod(escape_markdown_v2)
    escape_code = staticmethod(escape_markdown_v2_code)
    _TOGGLES = {
        "bold": "*",
        "italic": "_",
        "underline": "__",
        "strikethrough": "~",
        "spoiler": "||",
        "code": "`",
    }

    def open(self, entity: TextEntity) -> str:
        if entity.type == "pre":
            return f"```{entity.language or ''}\n"
        if entity.type == "custom_emoji":
            return "!["
        return self._TOGGLES.get(entity.type, "[")

    def close(self, entity: TextEntity) -> str:
        if entity.type == "pre":
            return "```"
        if entity.type in self._TOGGLES:
            return self._TOGGLES[entity.type]
        return f"]({escape_markdown_v2_link(_target(entity))})"

    def separate(self, before: str, after: str, open_types: set[str]) -> str:
        """'_' then '__' would read as '__' then '_' (underline is taken greedily): the
        reference's remedy is an empty bold between them, or another empty toggle when bold
        is open (an empty entity is dropped)."""
        if not (before.endswith("_") and after.startswith("_")):
            return ""
        empty = (("bold", "**"), ("strikethrough", "~~"), ("spoiler", "||||"))
        return next((marks for kind, marks in empty if kind not in open_types), "**")


class _Html:
    escape = staticmethod(escape_html)
    escape_code = staticmethod(escape_html)
    _TAGS = {
        "bold": "b",
        "italic": "i",
        "underline": "u",
        "strikethrough": "s",
        "spoiler": "tg-spoiler",
        "code": "code",
    }

    def open(self, entity: TextEntity) -> str:
        if entity.type == "pre":
            if entity.language:
                language = escape_html_attribute(entity.language)
                return f'<pre><code class="language-{language}">'
            return "<pre>"
        if entity.type == "custom_emoji":
            return f'<tg-emoji emoji-id="{escape_html_attribute(entity.custom_emoji_id or "")}">'
        if entity.type in self._TAGS:
            return f"<{self._TAGS[entity.type]}>"
        return f'<a href="{escape_html_attribute(_target(entity))}">'

    def close(self, entity: TextEntity) -> str:
        if entity.type == "pre":
            return "</code></pre>" if entity.language else "</pre>"
        if entity.type == "custom_emoji":
            return "</tg-emoji>"
        return f"</{self._TAGS.get(entity.type, 'a')}>"

    def separate(self, before: str, after: str, open_types: set[str]) -> str:
        return ""


def to_markdown_v2(text: FormattedText) -> str:
    """The text as MarkdownV2 that Telegram reads back into the same text and entities."""
    return _write(text, _MarkdownV2())


def to_html(text: FormattedText) -> str:
    """The text in the HTML parse mode, read back by Telegram into the same text and entities."""
    return _write(text, _Html())


def _target(entity: TextEntity) -> str:
    if entity.type == "custom_emoji":
        return f"tg://emoji?id={entity.custom_emoji_id or ''}"
    if entity.type == "text_mention":
        return f"tg://user?id={entity.user_id}"
    return entity.url or ""


def _written(text: FormattedText) -> list[TextEntity]:
    """The entities as markup can carry them: of WRITTEN_TYPES and not empty; markup cannot
    nest a kind within itself, so entities of one group (code and pre; the three kinds of
    link; each other type) that overlap are cut where the earlier one ends; and nothing is
    inside code (where Telegram reads no markup) but a span that is exactly the code's."""
    written: list[TextEntity] = []
    reach: dict[str, int] = {}
    for entity in sorted(text.entities, key=lambda e: (e.start, -e.end)):
        group = _GROUPS.get(entity.type, entity.type)
        covered = reach.get(group, 0)
        if entity.type not in WRITTEN_TYPES or entity.end <= max(covered, entity.start):
            continue
        written.append(replace(entity, start=max(entity.start, covered)))
        reach[group] = entity.end
    code = [e for e in written if e.type in _CODE_TYPES]
    kept = (e if e.type in _CODE_TYPES else _outside_code(e, code) for e in written)
    return [e for e in kept if e is not None]


def _outside_code(entity: TextEntity, code: list[TextEntity]) -> TextEntity | None:
    """The entity, starting where a code span ends if it would open inside one; None if
    nothing is left of it. One that starts with a code span and is no shorter opens before it."""
    for span in code:
        opens_inside = span.start < entity.start < span.end or (
            entity.start == span.start and entity.end < span.end
        )
        if opens_inside:
            if entity.end <= span.end:
                return None
            entity = replace(entity, start=span.end)
    return entity


def _write(text: FormattedText, syntax: _Syntax) -> str:
    """Open and close markup at each entity boundary. An entity that ends while ones opened
    after it are still open (overlapping, not nested) closes them first and reopens them."""
    entities = _written(text)
    boundaries = sorted(
        {0, len(text.text)} | {e.start for e in entities} | {e.end for e in entities}
    )
    out: list[str] = []
    stack: list[TextEntity] = []

    def emit(markup: str) -> None:
        if markup:
            out.append(syntax.separate(out[-1] if out else "", markup, {e.type for e in stack}))
            out.append(markup)

    for position, following in zip(boundaries, [*boundaries[1:], None], strict=True):
        ending = [i for i, e in enumerate(stack) if e.end == position]
        if ending:
            reopen = [e for e in stack[ending[0] :] if e.end != position]
            while len(stack) > ending[0]:
                emit(syntax.close(stack.pop()))
            for entity in reopen:
                emit(syntax.open(entity))
                stack.append(entity)
        starting = [e for e in entities if e.start == position]
        for entity in sorted(starting, key=lambda e: (-e.end, e.type in _CODE_TYPES)):
            emit(syntax.open(entity))
            stack.append(entity)
        if following is not None:
            segment = text.text[position:following]
            in_code = any(e.type in _CODE_TYPES for e in stack)
            out.append((syntax.escape_code if in_code else syntax.escape)(segment))
    return "".join(out)
