"""The files a Message carries (photo, document, voice, audio, video, sticker ...), described."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from channels.telegram.errors import MalformedUpdate


class MediaKind(StrEnum):
    """The Message field a file came in; the order is the order they are looked for."""

    PHOTO = "photo"
    ANIMATION = "animation"
    DOCUMENT = "document"
    VOICE = "voice"
    AUDIO = "audio"
    VIDEO = "video"
    VIDEO_NOTE = "video_note"
    STICKER = "sticker"


_DEFAULT_MIME_TYPE = {
    MediaKind.PHOTO: "image/jpeg",
    MediaKind.ANIMATION: "video/mp4",
    MediaKind.DOCUMENT: "application/octet-stream",
    MediaKind.VOICE: "audio/ogg",
    MediaKind.AUDIO: "audio/mpeg",
    MediaKind.VIDEO: "video/mp4",
    MediaKind.VIDEO_NOTE: "video/mp4",
}
"""What Telegram sends when the object has no mime_type (photos and video notes never do)."""

_EXTENSION = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "application/pdf": ".pdf",
    "application/x-tgsticker": ".tgs",
}


_UNSAFE_IN_NAMES = {ord("/"): "_", ord("\\"): "_", **{code: None for code in (*range(32), 127)}}


@dataclass(frozen=True, slots=True)
class Media:
    """One file of a message: what is needed to fetch it (`file_id` with getFile) and to show it."""

    kind: MediaKind
    file_id: str
    file_unique_id: str
    """Stable across bots and time: the name to dedupe the bytes by."""
    mime_type: str
    file_name: str
    """The sender's name for a document, audio or video; else one made from the unique id."""
    file_size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: int | None = None
    """Seconds, for voice, audio, video, video notes and animations."""
    emoji: str | None = None
    sticker_set: str | None = None
    performer: str | None = None
    title: str | None = None

    def summary(self) -> str:
        """One line for a timeline that cannot show the file itself."""
        if self.kind is MediaKind.STICKER:
            from_set = f"from the set {self.sticker_set}" if self.sticker_set else None
            return " ".join(part for part in ("Sticker", self.emoji, from_set) if part)
        parts = [self.kind.value.replace("_", " ").capitalize()]
        if self.kind in (MediaKind.DOCUMENT, MediaKind.AUDIO, MediaKind.VIDEO):
            parts.append(self.file_name)
        if self.performer or self.title:
            parts.append(" – ".join(p for p in (self.performer, self.title) if p))
        if self.width and self.height and self.kind is MediaKind.PHOTO:
            parts.append(f"{self.width}×{self.height}")
        if self.duration is not None:
            minutes, seconds = divmod(self.duration, 60)
            parts.append(f"{minutes}:{seconds:02d}")
        return ", ".join(parts)


def message_media(message: Mapping[str, Any]) -> tuple[Media, ...]:
    """The files of a Message: the largest photo size, an animation (not also the document
    Telegram repeats it in), documents, voice notes, audio, video, video notes, a sticker."""
    found = []
    for kind in MediaKind:
        if kind not in message:
            continue
        if kind is MediaKind.DOCUMENT and MediaKind.ANIMATION in message:
            continue
        raw = _largest_photo(message[kind]) if kind is MediaKind.PHOTO else message[kind]
        found.append(_media(kind, raw))
    return tuple(found)


def _largest_photo(sizes: Any) -> Mapping[str, Any]:
    if not isinstance(sizes, list) or not sizes or not all(isinstance(s, dict) for s in sizes):
        raise MalformedUpdate("photo is not a list of PhotoSize objects")
    return max(sizes, key=lambda s: (_number(s, "width") * _number(s, "height"), _size(s) or 0))


def _media(kind: MediaKind, raw: Any) -> Media:
    if not isinstance(raw, dict):
        raise MalformedUpdate(f"{kind} is not an object")
    file_id, unique_id = raw.get("file_id"), raw.get("file_unique_id")
    if not isinstance(file_id, str) or not file_id:
        raise MalformedUpdate(f"{kind} has no file_id")
    if not isinstance(unique_id, str) or not unique_id:
        raise MalformedUpdate(f"{kind} has no file_unique_id")
    mime_type = _mime_type(kind, raw)
    return Media(
        kind=kind,
        file_id=file_id,
        file_unique_id=unique_id,
        mime_type=mime_type,
        file_name=_file_name(kind, raw, unique_id, mime_type),
        file_size=_size(raw),
        width=_optional_number(raw, "width"),
        height=_optional_number(raw, "height"),
        duration=_optional_number(raw, "duration"),
        emoji=_optional_text(raw, "emoji"),
        sticker_set=_optional_text(raw, "set_name"),
        performer=_optional_text(raw, "performer"),
        title=_optional_text(raw, "title"),
    )


def _mime_type(kind: MediaKind, raw: Mapping[str, Any]) -> str:
    if kind is MediaKind.STICKER:
        if raw.get("is_animated") is True:
            return "application/x-tgsticker"
        return "video/webm" if raw.get("is_video") is True else "image/webp"
    given = _optional_text(raw, "mime_type")
    return given.lower() if given else _DEFAULT_MIME_TYPE[kind]


def _file_name(kind: MediaKind, raw: Mapping[str, Any], unique_id: str, mime_type: str) -> str:
    """The sender's name for the file, made harmless as a file name (no directories, no
    control characters, no leading dots), else one made from the file's unique id."""
    given = (_optional_text(raw, "file_name") or "").translate(_UNSAFE_IN_NAMES).strip()
    given = given.lstrip(".").strip()[:255]
    return given or f"{kind.value}-{unique_id}{_EXTENSION.get(mime_type, '')}"


def _size(raw: Mapping[str, Any]) -> int | None:
    return _optional_number(raw, "file_size")


def _number(raw: Mapping[str, Any], name: str) -> int:
    return _optional_number(raw, name) or 0


def _optional_number(raw: Mapping[str, Any], name: str) -> int | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedUpdate(f"{name} is not a whole number: {str(value)[:40]!r}")
    return value


def _optional_text(raw: Mapping[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedUpdate(f"{name} is not a string")
    return value
