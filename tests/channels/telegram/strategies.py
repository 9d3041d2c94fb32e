"""Hypothesis strategies for Telegram texts: Persian, Latin, emoji outside the BMP, joiners,
whitespace and every character the parse modes reserve, with entities over them."""

from __future__ import annotations

from hypothesis import strategies as st

from channels.telegram.entities import FormattedText, TextEntity
from channels.telegram.formatting import WRITTEN_TYPES

_GROUPS = {"pre": "code", "text_mention": "text_link", "custom_emoji": "text_link"}

ALPHABET = st.sampled_from(
    list("abcXYZ019 ")
    + list("سلامدوستپیگیری۰۱۲")
    + ["\u200c", "\u200d", "\ufe0f", "\u0301", "\n", "\t"]
    + ["👋", "😟", "👍", "\U0001f3fd", "\U0001f1ee", "\U0001f1f7"]
    + list("\\_*[]()~`>#+-=|{}.!<&\"'")
)
texts = st.text(ALPHABET, max_size=80)

_ATTRIBUTES = {
    "text_link": lambda draw: {"url": draw(st.text(ALPHABET, min_size=1, max_size=20))},
    "text_mention": lambda draw: {"user_id": draw(st.integers(1, 2**40))},
    "pre": lambda draw: {
        "language": draw(st.one_of(st.none(), st.from_regex(r"[a-z]{1,8}", fullmatch=True)))
    },
    "custom_emoji": lambda draw: {
        "custom_emoji_id": draw(st.from_regex(r"[0-9]{5,19}", fullmatch=True))
    },
}


@st.composite
def formatted_texts(
    draw: st.DrawFn, types: tuple[str, ...] = tuple(sorted(WRITTEN_TYPES))
) -> FormattedText:
    """A text and any entities over it: overlapping, nested, adjacent, of any written type."""
    text = draw(st.text(ALPHABET, min_size=1, max_size=120))
    entities = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        kind = draw(st.sampled_from(types))
        extra = _ATTRIBUTES[kind](draw) if kind in _ATTRIBUTES else {}
        entities.append(TextEntity(kind, start, end, **extra))
    return FormattedText(text, tuple(entities))


def nested_only(text: FormattedText) -> FormattedText:
    """The entities Telegram itself could hand back from markup: each pair disjoint or nested,
    none of one group (code, links, each other type) within another of its group, nothing
    inside code but a span exactly the code's."""
    kept: list[TextEntity] = []
    for entity in sorted(text.entities, key=lambda e: (e.start, -e.end)):
        crosses = any(k.start < entity.start < k.end < entity.end for k in kept)
        same_group = any(
            _GROUPS.get(k.type, k.type) == _GROUPS.get(entity.type, entity.type)
            and k.start < entity.end
            and entity.start < k.end
            for k in kept
        )
        in_code = any(
            k.type in ("code", "pre")
            and k.start <= entity.start
            and entity.end <= k.end
            and (entity.type in ("code", "pre") or (k.start, k.end) != (entity.start, entity.end))
            for k in kept
        )
        if not (crosses or same_group or in_code):
            kept.append(entity)
    return FormattedText(text.text, tuple(kept))
