"""A strict reader of the Bot API's MarkdownV2 and HTML parse modes, as its reference
("Formatting options") documents them, for the fake Bot API: it turns markup into the text
and entities Telegram would store, and refuses what Telegram refuses (an unescaped reserved
character, an unknown tag), so escaping is tested against the rules rather than against itself.

Written from the reference, not from Telegram's source: where the reference is silent the
reader refuses rather than guesses (a backslash before a non-ASCII character, for instance).
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from channels.telegram.utf16 import Utf16Index

MARKDOWN_V2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


class MarkupError(ValueError):
    """What Telegram answers "Bad Request: can't parse entities: ..." with."""


class _Builder:
    """The plain text being built and the entities found in it, by string index."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.found: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.length > start:
            self.found.append({"type": kind, "start": start, "end": self.length, **extra})

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        text = "".join(self.parts)
        index = Utf16Index(text)
        entities = []
        for found in sorted(self.found, key=lambda e: (e["start"], -e["end"])):
            start, end = index.units_at(found.pop("start")), index.units_at(found.pop("end"))
            entities.append({"offset": start, "length": end - start, **found})
        return text, entities


_TOGGLES = (
    ("||", "spoiler"),
    ("__", "underline"),
    ("*", "bold"),
    ("_", "italic"),
    ("~", "strikethrough"),
)


def parse_markdown_v2(source: str) -> tuple[str, list[dict[str, Any]]]:
    """(text, MessageEntity list) of a MarkdownV2 message; MarkupError as Telegram refuses."""
    out = _Builder()
    stack: list[tuple[str, int, dict[str, Any]]] = []
    i, quote_start = 0, None
    while i < len(source):
        char = source[i]
        top = stack[-1][0] if stack else None
        if char == "\\":
            if i + 1 == len(source) or not 1 <= ord(source[i + 1]) <= 126:
                raise MarkupError(f"Character '\\' at byte offset {i} escapes nothing escapable")
            out.add(source[i + 1])
            i += 2
            continue
        if top in ("code", "pre"):
            closing = "```" if top == "pre" else "`"
            if source.startswith(closing, i):
                kind, start, extra = stack.pop()
                out.entity(kind, start, **extra)
                i += len(closing)
            elif char == "`":
                raise MarkupError("Character '`' is reserved and must be escaped in code")
            else:
                out.add(char)
                i += 1
            continue
        if char == ">" and (i == 0 or source[i - 1] == "\n"):
            if quote_start is None:
                quote_start = out.length
            i += 1
            continue
        if char == "\n" and quote_start is not None and not source.startswith(">", i + 1):
            out.entity("blockquote", quote_start)
            quote_start = None
        if source.startswith("```", i):
            end_of_line = source.find("\n", i + 3)
            if end_of_line < 0:
                raise MarkupError(f"Can't find end of Pre entity at byte offset {i}")
            language = source[i + 3 : end_of_line]
            stack.append(("pre", out.length, {"language": language} if language else {}))
            i = end_of_line + 1
            continue
        if char == "`":
            stack.append(("code", out.length, {}))
            i += 1
            continue
        toggle = next(((m, kind) for m, kind in _TOGGLES if source.startswith(m, i)), None)
        if toggle is not None:
            marker, kind = toggle
            if top == kind:
                _, start, _ = stack.pop()
                out.entity(kind, start)
            elif any(open_kind == kind for open_kind, _, _ in stack):
                raise MarkupError(f"Can't find end of {kind} entity at byte offset {i}")
            else:
                stack.append((kind, out.length, {}))
            i += len(marker)
            continue
        if char == "[" or source.startswith("![", i):
            kind = "custom_emoji" if char == "!" else "link"
            stack.append((kind, out.length, {}))
            i += 2 if char == "!" else 1
            continue
        if char == "]" and top in ("link", "custom_emoji"):
            if not source.startswith("(", i + 1):
                raise MarkupError(f"Character ']' at byte offset {i} is not followed by '('")
            url, i = _link_target(source, i + 2)
            kind, start, _ = stack.pop()
            kind, extra = _link_entity(kind, url)
            out.entity(kind, start, **extra)
            continue
        if char in MARKDOWN_V2_RESERVED:
            raise MarkupError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.add(char)
        i += 1
    if stack:
        raise MarkupError(f"Can't find end of {stack[-1][0]} entity")
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    return out.result()


def _link_target(source: str, i: int) -> tuple[str, int]:
    target = []
    while i < len(source) and source[i] != ")":
        if source[i] == "\\" and i + 1 < len(source):
            i += 1
        target.append(source[i])
        i += 1
    if i == len(source):
        raise MarkupError("Can't find end of a URL")
    return "".join(target), i + 1


def _link_entity(kind: str, url: str) -> tuple[str, dict[str, Any]]:
    if kind == "custom_emoji":
        prefix = "tg://emoji?id="
        if not url.startswith(prefix):
            raise MarkupError("Custom emoji entity must have tg://emoji?id= URL")
        return "custom_emoji", {"custom_emoji_id": url.removeprefix(prefix)}
    if url.startswith("tg://user?id="):
        return "text_mention", {"user": {"id": int(url.removeprefix("tg://user?id="))}}
    return "text_link", {"url": url}


_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_HTML_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class _HtmlReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out = _Builder()
        self.stack: list[tuple[str, str, int, dict[str, Any]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        extra: dict[str, Any] = {}
        if tag in _SIMPLE_TAGS:
            kind = _SIMPLE_TAGS[tag]
        elif tag == "span" and attributes.get("class") == "tg-spoiler":
            kind = "spoiler"
        elif tag == "a" and attributes.get("href"):
            kind, extra = _link_entity("link", attributes["href"] or "")
        elif tag == "tg-emoji" and attributes.get("emoji-id"):
            kind, extra = "custom_emoji", {"custom_emoji_id": attributes["emoji-id"]}
        elif tag == "blockquote":
            kind = "expandable_blockquote" if "expandable" in attributes else "blockquote"
        else:
            raise MarkupError(f'Unsupported start tag "{tag}"')
        if kind == "code" and self.stack and self.stack[-1][1] == "pre":
            language = (attributes.get("class") or "").removeprefix("language-")
            if language:
                self.stack[-1][3]["language"] = language
        self.stack.append((tag, kind, self.out.length, extra))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            expected = f'"</{self.stack[-1][0]}>"' if self.stack else "no end tag"
            raise MarkupError(f'Unmatched end tag "</{tag}>", expected {expected}')
        _, kind, start, extra = self.stack.pop()
        nested_code = kind == "code" and self.stack and self.stack[-1][1] == "pre"
        if not nested_code:
            self.out.entity(kind, start, **extra)

    def handle_data(self, data: str) -> None:
        if any(char in data for char in "<>&"):
            raise MarkupError("unescaped '<', '>' or '&' outside a tag or an entity")
        self.out.add(data)

    def handle_entityref(self, name: str) -> None:
        if name not in _HTML_ENTITIES:
            raise MarkupError(f'Unsupported HTML entity "&{name};"')
        self.out.add(_HTML_ENTITIES[name])

    def handle_charref(self, name: str) -> None:
        self.out.add(chr(int(name[1:], 16) if name[:1] in "xX" else int(name)))

    def handle_comment(self, data: str) -> None:
        raise MarkupError("comments are not supported")

    def handle_decl(self, decl: str) -> None:
        raise MarkupError("declarations are not supported")


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """(text, MessageEntity list) of an HTML-mode message; MarkupError as Telegram refuses."""
    reader = _HtmlReader()
    reader.feed(source)
    reader.close()
    if reader.stack:
        raise MarkupError(f'Can\'t find end tag corresponding to start tag "{reader.stack[-1][0]}"')
    return reader.out.result()
