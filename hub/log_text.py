"""Makes values that came from a request safe to write into a log line (no forged lines)."""

from __future__ import annotations

_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F, *range(0x80, 0xA0))} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    ord("\\"): "\\\\",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}
"""Control characters (C0, DEL, C1 with NEL) and Unicode's line and paragraph separators:
what a terminal or a log shipper may read as the end of a line or an escape sequence. A
backslash is doubled, so an escape written by a sender cannot pass for one made here."""

MAX_LOGGED_CHARS = 300


def printable(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """`value` as one log line's worth of text: control characters escaped, at most `limit`
    characters (then an ellipsis). Letters of every script stay as they are."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.translate(_ESCAPES)
