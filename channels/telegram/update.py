"""Reading one Bot API Update into a neutral description of the message it carries."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from channels.telegram.commands import BotCommand, leading_command
from channels.telegram.contact import SharedContact, shared_contact
from channels.telegram.entities import FormattedText, InvalidEntities, is_count
from channels.telegram.errors import MalformedUpdate, UnsupportedUpdate
from channels.telegram.media import Media, message_media
from timeline.events import ExternalIdentity, IdentityKind

HANDLED_UPDATE_TYPES = ("message", "edited_message")
"""What to ask for in setWebhook's and getUpdates' allowed_updates."""

_UNHANDLED_CONTENT = (
    "dice",
    "game",
    "poll",
    "story",
    "invoice",
    "successful_payment",
    "paid_media",
    "checklist",
    "giveaway",
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "pinned_message",
    "group_chat_created",
    "migrate_to_chat_id",
    "web_app_data",
)
"""Message contents Telegram documents that are not a customer writing to us."""


class ChatType(StrEnum):
    """Telegram's kinds of chat; a channel's own posts come as channel_post updates."""

    PRIVATE = "private"
    GROUP = "group"
    SUPERGROUP = "supergroup"
    CHANNEL = "channel"


@dataclass(frozen=True, slots=True)
class Chat:
    """Where the message was written: a private chat's id is the user's, a group's negative."""

    id: int
    type: ChatType
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    """The Telegram user who wrote the message."""

    identity: ExternalIdentity
    """IdentityKind.TELEGRAM with the user id in decimal: stable, unlike the username."""
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True, slots=True)
class Location:
    latitude: float
    longitude: float
    horizontal_accuracy: float | None = None
    """Meters of uncertainty, when the sender's device gave it."""


@dataclass(frozen=True, slots=True)
class Venue:
    location: Location
    title: str
    address: str
    foursquare_id: str | None = None
    google_place_id: str | None = None


@dataclass(frozen=True, slots=True)
class TelegramMessage:
    """What a customer wrote, as the neutral parts the timeline needs."""

    message_id: int
    """Unique within its chat only: (chat.id, message_id) names a message."""
    chat: Chat
    sender: Sender
    sent_at: datetime
    edited_at: datetime | None
    text: FormattedText
    """The text, or a media message's caption (`text_is_caption`); empty when there is none."""
    text_is_caption: bool = False
    media: tuple[Media, ...] = ()
    location: Location | None = None
    venue: Venue | None = None
    contact: SharedContact | None = None
    reply_to_message_id: int | None = None
    """The message (in the same chat) this one answers, ours or the customer's."""
    command: BotCommand | None = None
    media_group_id: str | None = None
    """Shared by the messages of one album, which Telegram sends as one update each."""
    sender_chat: Chat | None = None
    """The chat the message was sent on behalf of (an anonymous group admin, a linked
    channel): then `sender` is a placeholder bot user Telegram fills in for them all."""


@dataclass(frozen=True, slots=True)
class ParsedUpdate:
    """One update: its id (increasing per bot, the polling offset) and the message it carries."""

    update_id: int
    message: TelegramMessage

    @property
    def edited(self) -> bool:
        return self.message.edited_at is not None


UPDATE_TYPE = re.compile(r"[a-z_]{1,64}")
"""What the Bot API's update types look like: a key that does not is no type of theirs (and is
never logged nor remembered as one)."""


def parse_update(body: bytes) -> ParsedUpdate:
    """Read an Update from the bytes Telegram sent. Pure: no network, no clock."""
    try:
        update = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise MalformedUpdate(f"the body is not JSON: {error}") from None
    return read_update(update)


def read_update(update: Any) -> ParsedUpdate:
    """Read an Update already decoded from JSON (as getUpdates' result list holds them)."""
    if not isinstance(update, dict):
        raise MalformedUpdate("the update is not a JSON object")
    update_id = update.get("update_id")
    if not is_count(update_id):
        raise MalformedUpdate("the update has no numeric update_id")
    kinds = [key for key in update if key != "update_id"]
    if len(kinds) != 1:
        raise MalformedUpdate(f"an update carries exactly one object, not {len(kinds)}")
    kind = kinds[0]
    if not UPDATE_TYPE.fullmatch(kind):
        raise MalformedUpdate("the update's type is not a Bot API name")
    if kind not in HANDLED_UPDATE_TYPES:
        raise UnsupportedUpdate(kind, f"update {update_id} is not a message")
    message = update[kind]
    if not isinstance(message, dict):
        raise MalformedUpdate(f"{kind} is not an object")
    return ParsedUpdate(update_id, _message(message, edited=kind == "edited_message"))


def _message(raw: Mapping[str, Any], *, edited: bool) -> TelegramMessage:
    message_id = raw.get("message_id")
    if not is_count(message_id):
        raise MalformedUpdate("the message has no numeric message_id")
    sender = _sender(raw.get("from"))
    text, is_caption = _text(raw)
    media = message_media(raw)
    venue = _venue(raw.get("venue"))
    location = venue.location if venue else _location(raw.get("location"))
    contact = None
    if "contact" in raw:
        contact = shared_contact(raw["contact"], int(sender.identity.value))
    if not (text.text or media or location or contact):
        content = next((key for key in _UNHANDLED_CONTENT if key in raw), "other")
        raise UnsupportedUpdate(f"message:{content}", f"message {message_id} has no text or media")
    edited_at = _date(raw, "edit_date") if edited else None
    reply_to = raw.get("reply_to_message")
    return TelegramMessage(
        message_id=message_id,
        chat=_chat(raw.get("chat")),
        sender=sender,
        sent_at=_date(raw, "date"),
        edited_at=edited_at,
        text=text,
        text_is_caption=is_caption,
        media=media,
        location=location,
        venue=venue,
        contact=contact,
        reply_to_message_id=_reply_to(reply_to),
        command=None if is_caption else leading_command(text),
        media_group_id=_optional_string(raw, "media_group_id"),
        sender_chat=_chat(raw["sender_chat"]) if "sender_chat" in raw else None,
    )


def _text(raw: Mapping[str, Any]) -> tuple[FormattedText, bool]:
    is_caption = "caption" in raw
    field, entities = ("caption", "caption_entities") if is_caption else ("text", "entities")
    text = raw.get(field, "")
    if not isinstance(text, str):
        raise MalformedUpdate(f"{field} is not a string")
    _storable(text, field)
    try:
        return FormattedText.from_bot_api(text, raw.get(entities)), is_caption
    except InvalidEntities as error:
        raise MalformedUpdate(f"{entities}: {error}") from None


def _sender(raw: Any) -> Sender:
    if not isinstance(raw, dict):
        raise MalformedUpdate("the message has no sender (from)")
    user_id, first_name = raw.get("id"), raw.get("first_name")
    if not is_count(user_id):
        raise MalformedUpdate("the sender has no numeric id")
    if not isinstance(first_name, str):
        raise MalformedUpdate("the sender has no first_name")
    _storable(first_name, "first_name")
    return Sender(
        identity=ExternalIdentity(IdentityKind.TELEGRAM, str(user_id)),
        first_name=first_name,
        last_name=_optional_string(raw, "last_name"),
        username=_optional_string(raw, "username"),
        language_code=_optional_string(raw, "language_code"),
        is_bot=raw.get("is_bot") is True,
    )


def _chat(raw: Any) -> Chat:
    if not isinstance(raw, dict):
        raise MalformedUpdate("the message has no chat")
    chat_id, chat_type = raw.get("id"), raw.get("type")
    if not isinstance(chat_id, int) or isinstance(chat_id, bool):
        raise MalformedUpdate("the chat has no numeric id")
    try:
        kind = ChatType(chat_type)
    except ValueError:
        raise MalformedUpdate(f"the chat's type {str(chat_type)[:40]!r} is unknown") from None
    return Chat(id=chat_id, type=kind, title=_optional_string(raw, "title"))


def _location(raw: Any) -> Location | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MalformedUpdate("location is not an object")
    latitude, longitude = raw.get("latitude"), raw.get("longitude")
    if not (_coordinate(latitude, 90) and _coordinate(longitude, 180)):
        raise MalformedUpdate("location has no valid latitude and longitude")
    accuracy = raw.get("horizontal_accuracy")
    return Location(
        latitude=float(latitude),
        longitude=float(longitude),
        horizontal_accuracy=float(accuracy) if _coordinate(accuracy, 1500) else None,
    )


def _venue(raw: Any) -> Venue | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise MalformedUpdate("venue is not an object")
    location = _location(raw.get("location"))
    title, address = raw.get("title"), raw.get("address")
    if location is None or not isinstance(title, str) or not isinstance(address, str):
        raise MalformedUpdate("venue needs a location, a title and an address")
    return Venue(
        location=location,
        title=title,
        address=address,
        foursquare_id=_optional_string(raw, "foursquare_id"),
        google_place_id=_optional_string(raw, "google_place_id"),
    )


def _reply_to(raw: Any) -> int | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not is_count(raw.get("message_id")):
        raise MalformedUpdate("reply_to_message has no numeric message_id")
    return int(raw["message_id"])


def _date(raw: Mapping[str, Any], name: str) -> datetime:
    value = raw.get(name)
    if not is_count(value):
        raise MalformedUpdate(f"the message has no Unix time {name}")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedUpdate(f"{name} {value} is out of range") from None


def _optional_string(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedUpdate(f"{name} is not a string")
    _storable(value, name)
    return value


def _storable(text: str, name: str) -> None:
    """Refuse text UTF-8 cannot carry (a lone surrogate from a "\\ud83d" escape): it could be
    neither stored nor shown, and Telegram never sends one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedUpdate(f"{name} holds half of a surrogate pair") from None


def _coordinate(value: Any, most: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and -most <= value <= most
