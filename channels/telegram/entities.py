"""Text and entities by string index, converting losslessly to and from the Bot API's UTF-16."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from channels.telegram.utf16 import Utf16Index


class InvalidEntities(ValueError):
    """A MessageEntity list that does not describe spans of its text."""


@dataclass(frozen=True, slots=True)
class TextEntity:
    """One formatting or recognised span (bold, url, bot_command, ...) of a text, by index.

    `start` and `end` are indices into the Python string, so `text[start:end]` is the span.
    The optional fields are those Telegram adds to some types: a text_link's `url`, a
    text_mention's `user_id`, a pre block's `language`, a custom emoji's id.
    """

    type: str
    start: int
    end: int
    url: str | None = None
    user_id: int | None = None
    language: str | None = None
    custom_emoji_id: str | None = None


@dataclass(frozen=True, slots=True)
class FormattedText:
    """A text and its entities; `to_bot_api` gives back what Telegram sent, unit for unit."""

    text: str
    entities: tuple[TextEntity, ...] = ()

    @classmethod
    def from_bot_api(cls, text: str, entities: object) -> FormattedText:
        """Read a Message's text (or caption) and its MessageEntity list (None: no entities);
        InvalidEntities says which entity is not a span of the text."""
        if entities is None:
            return cls(text)
        if not isinstance(entities, list):
            raise InvalidEntities("the entities are not a list")
        index = Utf16Index(text)
        return cls(
            text, tuple(_entity(raw, index, position) for position, raw in enumerate(entities))
        )

    def to_bot_api(self) -> list[dict[str, Any]]:
        """The entities as the Bot API's MessageEntity objects, offsets in UTF-16 units."""
        index = Utf16Index(self.text)
        result = []
        for entity in self.entities:
            offset = index.units_at(entity.start)
            item: dict[str, Any] = {
                "type": entity.type,
                "offset": offset,
                "length": index.units_at(entity.end) - offset,
            }
            if entity.url is not None:
                item["url"] = entity.url
            if entity.user_id is not None:
                item["user"] = {"id": entity.user_id}
            if entity.language is not None:
                item["language"] = entity.language
            if entity.custom_emoji_id is not None:
                item["custom_emoji_id"] = entity.custom_emoji_id
            result.append(item)
        return result


def _entity(raw: Any, index: Utf16Index, position: int) -> TextEntity:
    where = f"entity #{position}"
    if not isinstance(raw, dict):
        raise InvalidEntities(f"{where} is not an object")
    kind, offset, length = raw.get("type"), raw.get("offset"), raw.get("length")
    if not isinstance(kind, str) or not kind:
        raise InvalidEntities(f"{where} has no type")
    if not is_count(offset) or not is_count(length) or length == 0:
        raise InvalidEntities(f"{where} ({kind}) needs a whole offset and a positive length")
    try:
        start, end = index.index_of(offset), index.index_of(offset + length)
    except ValueError as error:
        raise InvalidEntities(f"{where} ({kind}): {error}") from None
    user = raw.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if kind == "text_mention" and not is_count(user_id):
        raise InvalidEntities(f"{where} is a text_mention without a user id")
    if kind == "text_link" and not isinstance(raw.get("url"), str):
        raise InvalidEntities(f"{where} is a text_link without a url")
    return TextEntity(
        type=kind,
        start=start,
        end=end,
        url=_text(raw.get("url")),
        user_id=user_id if is_count(user_id) else None,
        language=_text(raw.get("language")),
        custom_emoji_id=_text(raw.get("custom_emoji_id")),
    )


def is_count(value: Any) -> bool:
    """A JSON whole number, not below zero (and not a boolean, which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
