"""Fetching a message's file with getFile into an Attachment, within the channel's size limit."""

from __future__ import annotations

import hashlib

from telegram import Bot
from telegram.error import BadRequest

from channels.telegram.media import Media
from timeline.events import Attachment

MAX_BOT_DOWNLOAD_BYTES = 20 * 1024 * 1024
"""The Bot API lets a bot download files of at most 20 MB; getFile refuses larger ones."""


class MediaUnavailable(Exception):
    """Telegram will not hand the file out (an unknown or expired file id): keep the
    description, there are no bytes to fetch. Network trouble is not this: python-telegram-bot's
    NetworkError, TimedOut and RetryAfter reach the caller, whose retry may succeed."""


async def fetch_attachment(bot: Bot, media: Media, max_bytes: int) -> Attachment:
    """The file's bytes as an Attachment, or its metadata with `too_large` when it is over
    `max_bytes` (or over what bots may download): the size Telegram announced is trusted
    first, so an oversized file is not downloaded at all.

    The attachment never carries the file's URL: the Bot API puts the bot token in it.
    """
    limit = min(max_bytes, MAX_BOT_DOWNLOAD_BYTES)
    if media.file_size is not None and media.file_size > limit:
        return _too_large(media, media.file_size)
    try:
        file = await bot.get_file(media.file_id)
    except BadRequest as error:
        if "too big" in error.message.lower():
            return _too_large(media, media.file_size)
        raise MediaUnavailable(f"{media.kind} {media.file_unique_id}: {error.message}") from None
    if file.file_size is not None and file.file_size > limit:
        return _too_large(media, file.file_size)
    content = bytes(await file.download_as_bytearray())
    if len(content) > limit:
        return _too_large(media, len(content))
    return Attachment(
        filename=media.file_name,
        content_type=media.mime_type,
        size=len(content),
        digest=hashlib.sha256(content).hexdigest(),
        content=content,
    )


def _too_large(media: Media, size: int | None) -> Attachment:
    return Attachment(
        filename=media.file_name, content_type=media.mime_type, size=size, too_large=True
    )
