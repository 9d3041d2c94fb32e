"""Splitting a formatted text into messages within Telegram's UTF-16 length limit."""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from channels.telegram.entities import FormattedText, TextEntity
from channels.telegram.utf16 import Utf16Index

MAX_MESSAGE_UNITS = 4096
"""sendMessage's text limit, after entities parsing."""

_JOINERS = {"\u200c", "\u200d", "\ufe0e", "\ufe0f"}
"""ZWNJ, ZWJ and the variation selectors: cutting next to one changes how its neighbours show."""


def split_text(text: FormattedText, limit: int = MAX_MESSAGE_UNITS) -> list[FormattedText]:
    """Parts that join back into `text`, each at most `limit` UTF-16 units, with the entities
    re-based onto the part they fall in.

    Each cut is the last one within the limit that is, in order of preference: after a line
    break outside every entity; after whitespace outside every entity; after whitespace
    (an entity is split, no word is); outside every entity (a word too long for a message is
    split), not next to a combining mark or a joiner if it can; anywhere but inside a
    character, as cleanly as it can. An entity that is split continues, with the same type,
    in the next part.
    """
    if limit < 2:
        raise ValueError("a part must hold at least one character of two UTF-16 units")
    index = Utf16Index(text.text)
    inside = _inside_entities(text)
    parts = []
    start = 0
    while index.length - index.units_at(start) > limit:
        cut = _cut(text.text, inside, start, _last_fitting(index, start, limit))
        parts.append(_part(text, start, cut))
        start = cut
    parts.append(_part(text, start, len(text.text)))
    return parts


def _last_fitting(index: Utf16Index, start: int, limit: int) -> int:
    """The largest end index whose part from `start` takes at most `limit` units."""
    end = start
    budget = index.units_at(start) + limit
    while end < len(index.text) and index.units_at(end + 1) <= budget:
        end += 1
    return end


def _inside_entities(text: FormattedText) -> list[bool]:
    """inside[i]: a cut before text[i] would fall strictly inside some entity."""
    inside = [False] * (len(text.text) + 1)
    for entity in text.entities:
        for position in range(entity.start + 1, entity.end):
            inside[position] = True
    return inside


def _cut(text: str, inside: list[bool], start: int, end: int) -> int:
    candidates = range(end, start, -1)
    preferences = (
        lambda c: text[c - 1] == "\n" and not inside[c],
        lambda c: text[c - 1].isspace() and not inside[c],
        lambda c: text[c - 1].isspace(),
        lambda c: not inside[c] and _clean(text, c),
        lambda c: not inside[c],
        lambda c: _clean(text, c),
    )
    for preferred in preferences:
        cut = next((c for c in candidates if preferred(c)), None)
        if cut is not None:
            return cut
    return end


def _clean(text: str, cut: int) -> bool:
    """Whether cutting before text[cut] keeps every character with its combining marks and
    joiners."""
    if cut == len(text):
        return True
    following = text[cut]
    return not (
        unicodedata.combining(following)
        or following in _JOINERS
        or text[cut - 1] in _JOINERS
        or 0x1F3FB <= ord(following) <= 0x1F3FF
    )


def _part(text: FormattedText, start: int, end: int) -> FormattedText:
    entities = tuple(
        _rebased(entity, start, end)
        for entity in text.entities
        if entity.start < end and entity.end > start
    )
    return FormattedText(text.text[start:end], entities)


def _rebased(entity: TextEntity, start: int, end: int) -> TextEntity:
    return replace(entity, start=max(entity.start, start) - start, end=min(entity.end, end) - start)
