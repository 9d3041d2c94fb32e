"""A customer's file is fetched with getFile and downloaded, unless it is over the limit, in
which case only its description is kept and the bytes are not even downloaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from channels.telegram.files import MAX_BOT_DOWNLOAD_BYTES, MediaUnavailable, fetch_attachment
from channels.telegram.media import Media
from channels.telegram.update import read_update

from .fake_bot_api import FakeBotApi

FIXTURES = Path(__file__).with_name("fixtures")
VOICE = b"OggS\x00\x02" + bytes(range(256)) * 8


def voice_note(file_id: str, file_size: int | None) -> Media:
    """The voice fixture's media, its file id the fake's, its announced size as given."""
    update = json.loads((FIXTURES / "message_received__voice.json").read_bytes())
    update["message"]["voice"].update(file_id=file_id, file_size=file_size)
    if file_size is None:
        del update["message"]["voice"]["file_size"]
    [media] = read_update(update).message.media
    return media


async def test_a_voice_note_is_fetched(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    stored = fake_bot_api.add_file(VOICE, folder="voice", suffix=".oga")
    attachment = await fetch_attachment(bot, voice_note(stored.file_id, len(VOICE)), 10_000)
    assert attachment.content == VOICE
    assert (attachment.size, attachment.digest) == (len(VOICE), hashlib.sha256(VOICE).hexdigest())
    assert (attachment.filename, attachment.content_type) == ("voice-AgADvoice07.ogg", "audio/ogg")
    assert not attachment.too_large
    assert attachment.url is None, "a file URL holds the bot token"
    assert fake_bot_api.downloads == [stored.file_path]


async def test_an_announced_size_over_the_limit_fetches_nothing(
    fake_bot_api: FakeBotApi, bot: Bot
) -> None:
    stored = fake_bot_api.add_file(VOICE)
    attachment = await fetch_attachment(bot, voice_note(stored.file_id, len(VOICE)), len(VOICE) - 1)
    assert (attachment.too_large, attachment.size, attachment.content) == (True, len(VOICE), None)
    assert fake_bot_api.calls_of("getFile") == [] and fake_bot_api.downloads == []


async def test_bots_may_not_download_over_20_mb_whatever_the_channel_allows(
    fake_bot_api: FakeBotApi, bot: Bot
) -> None:
    stored = fake_bot_api.add_file(b"...", size=MAX_BOT_DOWNLOAD_BYTES + 1)
    big = voice_note(stored.file_id, MAX_BOT_DOWNLOAD_BYTES + 1)
    assert (await fetch_attachment(bot, big, 100 * 1024 * 1024)).too_large
    assert fake_bot_api.calls_of("getFile") == []


async def test_without_an_announced_size_get_files_answer_decides(
    fake_bot_api: FakeBotApi, bot: Bot
) -> None:
    stored = fake_bot_api.add_file(VOICE)
    attachment = await fetch_attachment(bot, voice_note(stored.file_id, None), len(VOICE) - 1)
    assert (attachment.too_large, attachment.size) == (True, len(VOICE))
    assert len(fake_bot_api.calls_of("getFile")) == 1 and fake_bot_api.downloads == []
    huge = fake_bot_api.add_file(b"...", size=MAX_BOT_DOWNLOAD_BYTES + 1)
    refused = await fetch_attachment(bot, voice_note(huge.file_id, None), 10**9)
    assert (refused.too_large, refused.size) == (True, None), "getFile said: file is too big"


async def test_bytes_beyond_what_was_announced_are_not_kept(
    fake_bot_api: FakeBotApi, bot: Bot
) -> None:
    stored = fake_bot_api.add_file(VOICE, size=10)
    attachment = await fetch_attachment(bot, voice_note(stored.file_id, 10), 100)
    assert (attachment.too_large, attachment.size, attachment.content) == (True, len(VOICE), None)


async def test_a_file_telegram_does_not_know_is_unavailable(bot: Bot) -> None:
    with pytest.raises(MediaUnavailable, match="AgADvoice07: Invalid file_id"):
        await fetch_attachment(bot, voice_note("AwACAgQ-expired", 100), 1000)


async def test_flood_control_reaches_the_caller_to_retry(
    fake_bot_api: FakeBotApi, bot: Bot
) -> None:
    fake_bot_api.retry_after("getFile", 3)
    with pytest.raises(RetryAfter):
        await fetch_attachment(bot, voice_note("any", 100), 1000)
