"""SMS encoding (GSM-7 or UCS-2) and how many segments a body takes, as carriers count them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

MAX_BODY_CHARS = 1600
"""Twilio refuses a message body longer than this many characters."""

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""GSM 03.38 default alphabet: one septet each (the escape code 0x1B itself is not text)."""

GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
"""GSM 03.38 extension table: an escape septet plus one, so two septets each."""


class Encoding(StrEnum):
    """How an SMS body travels: 7-bit GSM septets or UTF-16 (UCS-2) code units."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


_LIMITS = {
    # encoding: (units in a lone segment, units per segment of a concatenated message)
    Encoding.GSM7: (160, 153),
    Encoding.UCS2: (70, 67),
}


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """A body's encoding, its length in that encoding's units, and its segment count."""

    encoding: Encoding
    units: int
    segments: int


def encoding_for(text: str) -> Encoding:
    """GSM-7 when every character is in the GSM 03.38 tables, UCS-2 otherwise."""
    if all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text):
        return Encoding.GSM7
    return Encoding.UCS2


def unit_cost(ch: str, encoding: Encoding) -> int:
    """Septets (GSM-7) or UTF-16 code units (UCS-2) that one character takes."""
    if encoding is Encoding.GSM7:
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def split_segments(text: str) -> list[str]:
    """Cut `text` into the parts a carrier sends, never splitting an escape or surrogate pair.

    A body that fits one segment is sent whole (160 septets / 70 code units); a longer one
    loses room to the concatenation header (153 / 67 per part).
    """
    encoding = encoding_for(text)
    single, per_part = _LIMITS[encoding]
    costs = [unit_cost(ch, encoding) for ch in text]
    if sum(costs) <= single:
        return [text]
    parts: list[str] = []
    start, used = 0, 0
    for index, cost in enumerate(costs):
        if used + cost > per_part:
            parts.append(text[start:index])
            start, used = index, 0
        used += cost
    parts.append(text[start:])
    return parts


def segment_info(text: str) -> SegmentInfo:
    """Encoding, length in units and number of segments of an SMS body."""
    encoding = encoding_for(text)
    units = sum(unit_cost(ch, encoding) for ch in text)
    return SegmentInfo(encoding=encoding, units=units, segments=len(split_segments(text)))


def count_segments(text: str) -> int:
    """How many SMS segments `text` is billed and sent as (an empty body still takes one)."""
    return len(split_segments(text))


def too_long(text: str) -> bool:
    """True when Twilio would refuse `text` for exceeding its 1600-character limit."""
    return len(text) > MAX_BODY_CHARS
