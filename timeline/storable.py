"""Makes what adapters parsed storable as it is: no U+0000 and no lone surrogate in any text,
and keys and labels that fit their columns. The raw payload keeps the bytes exactly as they came."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import Field, dataclass, fields, is_dataclass, replace
from datetime import datetime
from enum import Enum
from functools import cache
from operator import attrgetter
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from timeline.models import Consent, ThreadKeyRecord, TimelineEvent

REPLACEMENT = "\ufffd"
"""What stands in for a NUL (PostgreSQL refuses U+0000 in text and in JSON) or a lone surrogate
(JSON's `\\ud83d` decodes to one, and it has no UTF-8), on every channel."""
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

KEY_FIELDS = {
    "external_id": TimelineEvent.__table__.c.external_id.type.length,
    "original_id": TimelineEvent.__table__.c.external_id.type.length,
    "key": ThreadKeyRecord.__table__.c.key.type.length,
}
"""Fields that are keys (the dedupe key, an edited message's, thread keys): a longer one is
shortened to a prefix and a digest of the whole, the same way wherever it occurs, so it still
matches itself."""
LABEL_FIELDS = {
    "subject": TimelineEvent.__table__.c.subject.type.length,
    "keyword": Consent.__table__.c.keyword.type.length,
}
"""Fields shown to people: a longer one is cut, with an ellipsis."""

Event = TypeVar("Event")


def storable(event: Event) -> Event:
    """`event` (a frozen dataclass) with every string, in nested dataclasses and tuples too,
    free of U+0000 and lone surrogates and fitted to its column; the same object when nothing
    needs changing (nearly always: that is found by a quick look, and only then is it rebuilt)."""
    return _cleaned(event, None) if _needs_cleaning(event) else event


def storable_text(text: str) -> str:
    return _UNSTORABLE.sub(REPLACEMENT, text) if _UNSTORABLE.search(text) else text


def storable_external_id(external_id: str) -> str:
    """A provider's id for a message as `storable` makes an event's `external_id`."""
    return _cleaned(external_id, "external_id")


def _fitted_key(key: str, length: int) -> str:
    if len(key) <= length:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{key[: length - len(digest) - 1]}#{digest}"


_LIMITS = {**KEY_FIELDS, **LABEL_FIELDS}


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to look at one dataclass type: its text fields at once, its limited ones by length,
    and the fields that may hold more (nested dataclasses, tuples) one by one."""

    texts: Callable[[Any], tuple[Any, ...]]
    limited: tuple[tuple[str, int], ...]
    nested: Callable[[Any], tuple[Any, ...]] | None
    only_text: str | None
    """The one field to look at, when the type holds one text field, unlimited, and no more."""


def _needs_cleaning(value: Any) -> bool:
    """Whether any string within `value` holds a NUL or a lone surrogate, or is longer than its
    field allows.

    Written for speed (every inbound event passes here): each dataclass's text fields are
    fetched at once and searched as one string; loops rather than generators."""
    kind = type(value)
    if kind is str:
        return _UNSTORABLE.search(value) is not None
    if kind is tuple:
        for item in value:  # noqa: SIM110 (a loop: any() over a generator costs more)
            if _needs_cleaning(item):
                return True
        return False
    plan = _plan(kind)
    if plan is None:
        return False
    if plan.only_text is not None:  # an identity, say: one text field and nothing else
        text = getattr(value, plan.only_text)
        return text is not None and _UNSTORABLE.search(text) is not None
    if _UNSTORABLE.search("".join(filter(None, plan.texts(value)))):
        return True
    for name, limit in plan.limited:
        text = getattr(value, name)
        if text is not None and len(text) > limit:
            return True
    if plan.nested is not None:
        for item in plan.nested(value):
            if item and _needs_cleaning(item):
                return True
    return False


def _cleaned(value: Any, name: str | None) -> Any:
    """`value` made storable: a string, a tuple of them, or a dataclass holding them."""
    kind = type(value)
    if kind is str:
        if _UNSTORABLE.search(value):
            value = _UNSTORABLE.sub(REPLACEMENT, value)
        limit = _LIMITS.get(name) if name is not None else None
        if limit is None or len(value) <= limit:
            return value
        return _fitted_key(value, limit) if name in KEY_FIELDS else value[: limit - 1] + "…"
    if kind is tuple:
        return tuple([_cleaned(item, name) for item in value])
    if _plan(kind) is None:
        return value
    return replace(
        value, **{f.name: _cleaned(getattr(value, f.name), f.name) for f in _text_fields(kind)}
    )


@cache
def _plan(cls: type) -> _Plan | None:
    if not is_dataclass(cls):
        return None
    hints = get_type_hints(cls)
    texts, nested = [], []
    for item in _text_fields(cls):
        hint = hints[item.name]
        if hint in (str, str | None):
            texts.append(item.name)
        elif not _holds_no_text(hint):
            nested.append(item.name)
    limited = tuple((name, _LIMITS[name]) for name in texts if name in _LIMITS)
    only_text = texts[0] if len(texts) == 1 and not limited and not nested else None
    return _Plan(_getter(texts) or (lambda _: ()), limited, _getter(nested), only_text)


def _holds_no_text(hint: Any) -> bool:
    """int, bool, a datetime, bytes, an enum (its values are ours), or None of those."""
    members = get_args(hint) if get_origin(hint) in (Union, UnionType) else (hint,)
    return all(
        member is type(None)
        or (isinstance(member, type) and issubclass(member, (int, float, datetime, bytes, Enum)))
        for member in members
    )


def _getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]] | None:
    """The values of these fields as a tuple, fetched in one call; None for no fields."""
    if not names:
        return None
    if len(names) == 1:
        return attrgetter(names[0], names[0])  # a pair, so the result is a tuple either way
    return attrgetter(*names)


@cache
def _text_fields(cls: type) -> tuple[Field[Any], ...]:
    """The fields of a dataclass that may hold text (`content`, an attachment's bytes, never)."""
    return tuple(item for item in fields(cls) if item.name != "content")
