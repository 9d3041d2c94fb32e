"""Splits an email reply into the new text and its collapsible tail (quoted history, signature).

For display only: nothing is ever dropped. `split_reply(text)` returns `(new, tail)` where
`new` is the text before the split point (trailing whitespace trimmed) and `tail` is the rest,
verbatim; with no split point, or when nothing would be left as new text, it returns
`(text, "")`. The split point is the earliest of:

- a quote header: Outlook's "-----Original Message-----" (and localized forms), or an
  Outlook/OWA header block ("From:" followed by "Sent:"/"Date:", "To:", "Subject:" lines, in
  English, German, French, Spanish, Italian, Dutch, Portuguese, Swedish, Danish, Russian,
  Polish, Chinese, Japanese), optionally after a "____" rule; everything below it is history;
- an attribution line ("On <date>, <name> wrote:", "Am ... schrieb ...:", "Le ... a écrit :",
  "El ... escribió:", "Em ... escreveu:", "Il ... ha scritto:", "Op ... schreef ...:",
  "... пишет:", Persian "در تاریخ ... نوشت:", Arabic "في ... كتب ...:", Chinese "...写道：")
  followed by "> " quoted lines running to the end;
- a block of "> " quoted lines that runs to the end (an interleaved reply, where answers
  follow quoted lines, is never split);
- the signature delimiter "-- " when at most 15 lines follow it (before the history).

A forwarded message ("---------- Forwarded message ---------", "Begin forwarded message:")
is content, not history: header blocks right after such a marker do not split.

`split_reply_html(html)` does the same for HTML by structure: Gmail's `div.gmail_quote`,
Thunderbird's `div.moz-cite-prefix`, Yahoo's `div.yahoo_quoted`, Outlook's `#appendonsend`,
`#divRplyFwdMsg` and its border-top header `div`, and a trailing `<blockquote type="cite">`.
Both halves are returned with their open elements closed (and reopened in the tail).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from html.parser import HTMLParser

_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_MAX_SIGNATURE_LINES = 15  # after "-- "
_MAX_BARE_SIGNATURE_LINES = 6  # after "--", whose trailing space some client stripped

_ATTRIBUTIONS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^On\b.{3,300}\bwrote\s?:$",
        r"^Am\b.{3,300}\bschrieb\b.{0,200}:$",
        r"^.{3,200}<[^<>\s]+@[^<>\s]+>\s?schrieb\b.{0,100}:$",
        r"^Le\b.{3,300}\ba\s+écrit\s*:$",
        r"^El\b.{3,300}\bescribió\s?:$",
        r"^Em\b.{3,300}\bescreveu\s?:$",
        r"^Il\b.{3,300}\bha\s+scritto\s?:$",
        r"^Op\b.{3,300}\bschreef\b.{0,200}:$",
        r"^(Den|På)\b.{3,300}\b(skrev|skreiv)\b.{0,200}:$",
        r"^(W dniu|Dnia)\b.{3,300}\bnapisał(a|\(a\))?\s?:$",
        r"^.{3,300}\s(пишет|написал(а|\(а\))?)\s?:$",
        r"^در\s+تاریخ.{3,300}نوشت\s?:$",
        r"^في.{3,300}كتب.{0,200}:$",
        r"^.{3,300}写道\s?[:：]$",
        r"^\d{4}年\d{1,2}月\d{1,2}日.{3,300}[:：]$",
    )
]
_ATTRIBUTION_ENDINGS = (":", "：")
"""How every attribution above ends: a line that does not is not tried against the fifteen
patterns (whose `.{3,300}` made trying them most of the cost of finding the history)."""
_SEPARATOR = re.compile(
    r"^-{2,}\s*(Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|"
    r"Messaggio originale|Oorspronkelijk bericht|Mensagem original|Originalmeddelande|"
    r"Original meddelelse|Alkuperäinen viesti|Исходное сообщение|Wiadomość oryginalna|"
    r"原始邮件|元のメッセージ)\s*-{2,}$",
    re.IGNORECASE,
)
_RULE = re.compile(r"^_{10,}$")
FORWARD_MARKER = re.compile(
    r"^(-{2,}\s*(Forwarded message|Forwarded Message|Weitergeleitete Nachricht|"
    r"Message transféré|Mensaje reenviado|Messaggio inoltrato|Doorgestuurd bericht|"
    r"Mensagem encaminhada|Пересылаемое сообщение)\s*-{2,}|Begin forwarded message:|"
    r"Anfang der weitergeleiteten Nachricht:|Début du message réexpédié :)$",
    re.IGNORECASE,
)
FROM_KEYS = frozenset(
    {"from", "von", "de", "da", "van", "från", "fra", "от", "od", "发件人", "差出人"}
)
_HEADER_KEYS = {
    "from": FROM_KEYS,
    "sent": {
        "sent",
        "date",
        "gesendet",
        "datum",
        "envoyé",
        "enviado",
        "enviado el",
        "fecha",
        "inviato",
        "data",
        "verzonden",
        "skickat",
        "sendt",
        "отправлено",
        "дата",
        "wysłano",
        "发送时间",
        "日付",
        "送信日時",
    },
    "to": {"to", "an", "à", "a", "para", "aan", "till", "til", "кому", "do", "收件人", "宛先"},
    "subject": {
        "subject",
        "betreff",
        "objet",
        "asunto",
        "assunto",
        "oggetto",
        "onderwerp",
        "ämne",
        "emne",
        "тема",
        "temat",
        "主题",
        "件名",
    },
}
_HEADER_LINE = re.compile(r"^\*?\s*([^\W\d_][^:：]{0,20}?)\s*\*?\s*[:：]\s*\*?")


@dataclass(frozen=True, slots=True)
class _Lines:
    """The text's lines (with their endings), their offsets, and cleaned copies for matching."""

    raw: list[str]
    offsets: list[int]
    clean: list[str]

    @classmethod
    def of(cls, text: str) -> _Lines:
        raw = text.splitlines(keepends=True)
        offsets, position = [], 0
        for line in raw:
            offsets.append(position)
            position += len(line)
        clean = [_BIDI.sub("", line).strip() for line in raw]
        return cls(raw, offsets, clean)


def split_reply(text: str) -> tuple[str, str]:
    """(new text, quoted history and signature) of a plain-text reply; see the module doc."""
    lines = _Lines.of(text)
    cut = _history_start(lines.clean)
    signature = _signature_start(lines, cut if cut is not None else len(lines.raw))
    if signature is not None:
        cut = signature
    if cut is None:
        return text, ""
    position = lines.offsets[cut]
    new = text[:position].rstrip()
    if not new:
        return text, ""
    return new, text[position:]


def _history_start(clean: list[str]) -> int | None:
    for index in range(len(clean)):
        start = _history_start_at(clean, index)
        if start is not None:
            return start
    return None


def _history_start_at(clean: list[str], index: int) -> int | None:
    if not clean[index]:
        return None
    if _is_quote_header(clean, index):
        return None if _after_forward(clean, index) else index
    attribution_end = _attribution_end(clean, index)
    if attribution_end is not None and _rest_is_quoted(clean, attribution_end + 1):
        return index
    if _starts_trailing_quote(clean, index):
        return _with_attribution_above(clean, index)
    return None


def _is_quote_header(clean: list[str], index: int) -> bool:
    line = clean[index]
    if _SEPARATOR.match(line) or _header_block_at(clean, index):
        return True
    return bool(_RULE.match(line)) and _header_block_at(clean, _next(clean, index))


def _starts_trailing_quote(clean: list[str], index: int) -> bool:
    first = clean[index].startswith(">") and (index == 0 or not clean[index - 1].startswith(">"))
    return first and _rest_is_quoted(clean, index)


def _with_attribution_above(clean: list[str], index: int) -> int:
    """An attribution we do not know ("... <a@b> hat geschrieben:") just above joins the quote."""
    previous = _previous_index(clean, index)
    if previous is not None and clean[previous].endswith((":", "：")) and "@" in clean[previous]:
        return previous
    return index


def _next(clean: list[str], index: int) -> int:
    index += 1
    while index < len(clean) and not clean[index]:
        index += 1
    return index


def _previous_index(clean: list[str], index: int) -> int | None:
    """The nearest non-blank line among the three above index."""
    for previous in range(index - 1, max(-1, index - 4), -1):
        if clean[previous]:
            return previous
    return None


def _after_forward(clean: list[str], index: int) -> bool:
    """True when a forward marker stands above this line, past blanks and header lines."""
    for line in reversed(clean[max(0, index - 10) : index]):
        if FORWARD_MARKER.match(line):
            return True
        if line and _header_key(line) is None:
            return False
    return False


def _attribution_end(clean: list[str], index: int) -> int | None:
    """The last line of an attribution ("On ... wrote:") starting at index, wrapped or not."""
    window = ""
    for end in range(index, min(index + 3, len(clean))):
        if not clean[end] or (end > index and clean[end].startswith(">")):
            return None
        window = f"{window} {clean[end]}".strip()
        if window.endswith(_ATTRIBUTION_ENDINGS) and any(p.match(window) for p in _ATTRIBUTIONS):
            return end
    return None


def _rest_is_quoted(clean: list[str], start: int) -> bool:
    """True when every line from start is quoted or blank, up to an optional short signature."""
    found_quote = False
    for index in range(start, len(clean)):
        line = clean[index]
        if line.startswith(">"):
            found_quote = True
        elif line in ("--", "-- ") and len(clean) - index - 1 <= _MAX_SIGNATURE_LINES:
            return found_quote
        elif line:
            return False
    return found_quote


def _header_key(line: str) -> str | None:
    match = _HEADER_LINE.match(line)
    if not match:
        return None
    key = " ".join(match.group(1).lower().split())
    return next((kind for kind, names in _HEADER_KEYS.items() if key in names), None)


def _header_block_at(clean: list[str], index: int) -> bool:
    """An Outlook-style header block: From, then Sent/Date or To, and Subject, within 6 lines."""
    if index >= len(clean) or _header_key(clean[index]) != "from":
        return False
    kinds = set()
    for line in clean[index + 1 : index + 7]:
        if not line:
            break
        kind = _header_key(line)
        if kind:
            kinds.add(kind)
    return "subject" in kinds and bool(kinds & {"sent", "to"})


def _signature_start(lines: _Lines, limit: int) -> int | None:
    """The "-- " line before limit that starts a short signature, if any."""
    for index in range(limit - 1, -1, -1):
        delimiter = lines.raw[index].rstrip("\r\n")
        if delimiter in ("-- ", "--"):
            following = [line for line in lines.clean[index + 1 : limit] if line]
            most = _MAX_SIGNATURE_LINES if delimiter == "-- " else _MAX_BARE_SIGNATURE_LINES
            return index if len(following) <= most else None
    return None


# --------------------------------------------------------------------------- HTML

_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}
_MARKER_CLASSES = {
    "gmail_quote",
    "gmail_quote_container",
    "x_gmail_quote",
    "moz-cite-prefix",
    "yahoo_quoted",
    "protonmail_quote",
}
_MARKER_IDS = {"appendonsend", "x_appendonsend", "divrplyfwdmsg", "x_divrplyfwdmsg"}
_OUTLOOK_BORDERS = ("border-top:solid#e1e1e1", "border-top:solid#b5c4df")


@dataclass(frozen=True, slots=True)
class _Open:
    """An element open at some point, linked to the one it is inside: a marker keeps the
    innermost one, not a copy of the whole stack (nested markers would copy it each time)."""

    tag: str
    source: str  # its start tag as written
    parent: _Open | None


@dataclass
class _Marker:
    offset: int
    innermost: _Open | None  # the elements still open at the marker, through their parents
    trailing_only: bool  # valid only when no text follows the element
    depth: int
    end: int | None = None

    def open_tags(self) -> list[_Open]:
        """The elements open at the marker, outermost first."""
        tags = []
        element = self.innermost
        while element is not None:
            tags.append(element)
            element = element.parent
        return tags[::-1]


class _MarkerFinder(HTMLParser):
    """Finds reply-structure markers, with the elements open at each, and text positions."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self.stack: list[_Open] = []
        self.markers: list[_Marker] = []
        self.open_markers: list[_Marker] = []  # not yet ended, the deepest last
        self.texts: list[tuple[int, str]] = []  # (offset, text) of every non-blank text

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        kind = _marker_kind(tag, values)
        innermost = self.stack[-1] if self.stack else None
        if kind is not None:
            marker = _Marker(self._offset(), innermost, kind == "trailing", len(self.stack))
            self.markers.append(marker)
            self.open_markers.append(marker)
        if tag not in _VOID:
            self.stack.append(_Open(tag, self.get_starttag_text() or f"<{tag}>", innermost))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        for position in range(len(self.stack) - 1, -1, -1):
            if self.stack[position].tag == tag:
                del self.stack[position:]
                self._close_markers(position)
                return

    def _close_markers(self, depth: int) -> None:
        while self.open_markers and self.open_markers[-1].depth >= depth:
            self.open_markers.pop().end = self._offset()

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append((self._offset(), data.strip()))


def _marker_kind(tag: str, values: dict[str, str]) -> str | None:
    classes = set(values.get("class", "").split())
    if tag in ("div", "blockquote") and classes & _MARKER_CLASSES:
        return "history"
    if values.get("id", "").lower() in _MARKER_IDS:
        return "history"
    style = "".join(values.get("style", "").lower().split())
    if tag == "div" and any(border in style for border in _OUTLOOK_BORDERS):
        return "history"
    if tag == "blockquote" and values.get("type", "").lower() == "cite":
        return "trailing"
    return None


def _splits_here(marker: _Marker, texts: list[tuple[int, str]], length: int) -> bool:
    """False for a cite blockquote with text after it, and for a forwarded message. `texts`
    are in the order of their offsets."""
    end = marker.end if marker.end is not None else length
    if marker.trailing_only and texts and texts[-1][0] > end:
        return False
    following = bisect_left(texts, marker.offset, key=lambda text: text[0])
    first = texts[following][1] if following < len(texts) else ""
    return not FORWARD_MARKER.match(first.splitlines()[0].strip() if first else "")


def split_reply_html(html: str) -> tuple[str, str]:
    """(new HTML, quoted history HTML) of an HTML reply; see the module docstring."""
    finder = _MarkerFinder(html)
    try:
        finder.feed(html)
        finder.close()
    except Exception:  # unreadable HTML is not split
        return html, ""
    for marker in finder.markers:
        if not _splits_here(marker, finder.texts, len(html)):
            continue
        if not finder.texts or finder.texts[0][0] >= marker.offset:
            return html, ""  # nothing new before it: do not hide everything
        open_tags = marker.open_tags()
        closing = "".join(f"</{element.tag}>" for element in reversed(open_tags))
        reopening = "".join(element.source for element in open_tags)
        return html[: marker.offset] + closing, reopening + html[marker.offset :]
    return html, ""
