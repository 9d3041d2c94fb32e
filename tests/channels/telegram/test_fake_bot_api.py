"""The fake Bot API speaks the wire format python-telegram-bot expects: the library itself
calls it, reads its answers into its own objects, and raises its own errors from its refusals.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from telegram import Bot, MessageEntity, ReplyParameters, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter

from channels.telegram.formatting import escape_markdown_v2

from .conftest import bot_for
from .fake_bot_api import FakeBotApi

FIXTURES = Path(__file__).with_name("fixtures")
SARA_CHAT = {"id": 123456789, "type": "private", "first_name": "Sara"}
PERSIAN = "سلام 👋 سفارش\u200cام کجاست؟ (کد: ۴۸۲۱)."


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_bytes())


async def test_get_me_introduces_the_bot(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    assert (bot.id, bot.username) == (7012345678, "switchboard_demo_bot")
    assert bot.bot.is_bot
    assert [call.method for call in fake_bot_api.calls] == ["getMe"]


async def test_a_wrong_token_is_unauthorized_and_a_malformed_one_not_found(
    fake_bot_api: FakeBotApi,
) -> None:
    with pytest.raises(InvalidToken, match="rejected by the server") as refused:
        await bot_for(fake_bot_api, "7012345678:AAHwrongWRONGwrong0123456789abcdefgh").initialize()
    assert "Unauthorized" in str(refused.value.__cause__)
    with pytest.raises(InvalidToken) as refused:
        await bot_for(fake_bot_api, "not a token").initialize()
    assert "Not Found" in str(refused.value.__cause__)


async def test_errors_have_the_bot_apis_shape(fake_bot_api: FakeBotApi) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake_bot_api.base_url}7012345678:nope/getMe") as answer:
            assert answer.status == 401
            assert await answer.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }
        fake_bot_api.retry_after("sendMessage", 7)
        url = f"{fake_bot_api.base_url}{fake_bot_api.token}/SENDMESSAGE"
        async with http.post(url, json={"chat_id": 1, "text": "x"}) as answer:
            assert answer.status == 429
            assert await answer.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            }


async def test_parameters_arrive_by_json_query_string_or_form(fake_bot_api: FakeBotApi) -> None:
    fake_bot_api.add_chat(SARA_CHAT)
    url = f"{fake_bot_api.base_url}{fake_bot_api.token}/sendMessage"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"chat_id": 123456789, "text": PERSIAN}) as answer:
            assert (await answer.json())["result"]["text"] == PERSIAN
        async with http.get(url, params={"chat_id": "123456789", "text": "hi"}) as answer:
            assert (await answer.json())["result"]["text"] == "hi"
    assert [call.params for call in fake_bot_api.calls] == [
        {"chat_id": "123456789", "text": PERSIAN},
        {"chat_id": "123456789", "text": "hi"},
    ]


async def test_setting_reading_and_deleting_the_webhook(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    assert await bot.set_webhook(
        "https://hub.example.com/webhooks/telegram/bot/k3y",
        secret_token="s3cret_-TOKEN",
        allowed_updates=["message", "edited_message"],
    )
    call = fake_bot_api.calls_of("setWebhook")[0]
    assert call.params["allowed_updates"] == ["message", "edited_message"]
    info = await bot.get_webhook_info()
    assert info.url == "https://hub.example.com/webhooks/telegram/bot/k3y"
    assert set(info.allowed_updates) == {"message", "edited_message"}
    assert fake_bot_api.webhook.secret_token == "s3cret_-TOKEN"
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""


@pytest.mark.parametrize(
    ("url", "secret", "reason"),
    [
        ("http://hub.example.com/hook", None, "https url must be provided"),
        ("https://hub.example.com:8080/hook", None, "ports 80, 88, 443 or 8443"),
        ("https://hub.example.com/hook", "not allowed!", "unallowed characters"),
    ],
)
async def test_a_webhook_telegram_would_refuse_is_refused(
    bot: Bot, url: str, secret: str | None, reason: str
) -> None:
    with pytest.raises(BadRequest, match=f"(?i){reason}"):
        await bot.set_webhook(url, secret_token=secret)


async def test_get_updates_confirms_by_offset(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    queued = [fake_bot_api.push_update(fixture("message_received__text")) for _ in range(3)]
    ids = [update["update_id"] for update in queued if update]
    assert [u.update_id for u in await bot.get_updates()] == ids
    assert [u.update_id for u in await bot.get_updates(limit=1)] == ids[:1]
    assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
    assert [u.update_id for u in await bot.get_updates()] == ids[1:], "offset confirmed ids[0]"
    assert await bot.get_updates(offset=ids[2] + 1) == ()
    assert fake_bot_api.updates == []


async def test_a_negative_offset_keeps_only_the_latest(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    for _ in range(4):
        fake_bot_api.push_update(fixture("message_received__text"))
    kept = await bot.get_updates(offset=-1)
    assert len(kept) == 1 and len(fake_bot_api.updates) == 1


async def test_every_update_fixture_reads_into_python_telegram_bots_objects(
    fake_bot_api: FakeBotApi, bot: Bot
) -> None:
    await bot.get_updates(allowed_updates=[*Update.ALL_TYPES])
    paths = sorted([*FIXTURES.glob("message_*__*.json"), *FIXTURES.glob("unsupported__*.json")])
    for path in paths:
        fake_bot_api.push_update(json.loads(path.read_bytes()))
    updates = await bot.get_updates()
    assert len(updates) == len(paths)
    persian = fixture("message_received__text_persian_entities")["message"]
    read = next(u for u in updates if u.message and u.message.text == persian["text"])
    assert read.message.parse_entities()[read.message.entities[0]] == "سفارش\u200cام"


async def test_long_polling_waits_for_an_update(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    fake_bot_api.push_update(fixture("message_received__voice"))
    [update] = await asyncio.wait_for(waiting, 5)
    assert update.message.voice.duration == 7


async def test_long_polling_returns_nothing_when_time_is_up(bot: Bot) -> None:
    started = asyncio.get_running_loop().time()
    assert await bot.get_updates(timeout=1) == ()
    assert asyncio.get_running_loop().time() - started >= 0.9


async def test_a_second_poller_terminates_the_first(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    async with bot_for(fake_bot_api) as another_process:
        assert await another_process.get_updates(timeout=1) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, 5)


async def test_no_polling_while_a_webhook_is_set(bot: Bot) -> None:
    await bot.set_webhook("https://hub.example.com/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


async def test_allowed_updates_filters_what_is_queued(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    assert fake_bot_api.push_update(fixture("unsupported__chat_member")) is None, "not by default"
    await bot.get_updates(allowed_updates=["message"])
    assert fake_bot_api.push_update(fixture("unsupported__poll")) is None
    assert fake_bot_api.push_update(fixture("message_received__text")) is not None
    await bot.get_updates()
    assert fake_bot_api.allowed_updates == {"message"}, "kept when not given again"


async def test_send_message_with_entities_and_a_reply(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    fake_bot_api.push_update(fixture("message_received__text"))
    bold = MessageEntity(MessageEntity.BOLD, offset=8, length=5)  # after 👋: 2 UTF-16 units
    sent = await bot.send_message(
        123456789, PERSIAN, entities=[bold], reply_parameters=ReplyParameters(101)
    )
    assert sent.text == PERSIAN
    assert sent.parse_entity(sent.entities[0]) == "سفارش"
    assert sent.reply_to_message.message_id == 101
    call = fake_bot_api.calls_of("sendMessage")[0]
    assert call.params["chat_id"] == "123456789"
    assert call.params["entities"] == [{"type": "bold", "offset": 8, "length": 5}]
    assert call.params["reply_parameters"] == {"message_id": 101}


async def test_markdown_v2_is_read_as_telegram_reads_it(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    fake_bot_api.add_chat(SARA_CHAT)
    sent = await bot.send_message(123456789, escape_markdown_v2(PERSIAN), ParseMode.MARKDOWN_V2)
    assert (sent.text, sent.entities) == (PERSIAN, ())
    sent = await bot.send_message(123456789, "<b>order</b> &lt;4821&gt;", ParseMode.HTML)
    assert sent.text == "order <4821>"
    assert sent.entities == (MessageEntity(MessageEntity.BOLD, 0, 5),)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: character '\(' is reserved"):
        await bot.send_message(123456789, PERSIAN, ParseMode.MARKDOWN_V2)


@pytest.mark.parametrize(
    ("chat_id", "text", "error", "reason"),
    [
        (555, "hi", BadRequest, "chat not found"),
        (123456789, " \n", BadRequest, "message text is empty"),
        (123456789, "👋" * 2049, BadRequest, "message is too long"),
    ],
)
async def test_sends_telegram_refuses(
    fake_bot_api: FakeBotApi, bot: Bot, chat_id: int, text: str, error: type, reason: str
) -> None:
    fake_bot_api.add_chat(SARA_CHAT)
    with pytest.raises(error, match=f"(?i){reason}"):
        await bot.send_message(chat_id, text)


async def test_the_longest_message_is_accepted(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    fake_bot_api.add_chat(SARA_CHAT)
    assert (await bot.send_message(123456789, "👋" * 2048)).text == "👋" * 2048


async def test_a_user_who_blocked_the_bot_is_forbidden(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    fake_bot_api.add_chat(SARA_CHAT)
    fake_bot_api.block(123456789)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(123456789, "hello?")


async def test_flood_control_says_when_to_retry(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    fake_bot_api.add_chat(SARA_CHAT)
    fake_bot_api.retry_after("sendMessage", 12)
    with pytest.raises(RetryAfter) as refused:
        await bot.send_message(123456789, "one")
    assert refused.value.retry_after in (12, timedelta(seconds=12))
    assert (await bot.send_message(123456789, "one")).text == "one", "only the next call"


async def test_any_error_can_be_scripted(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    fake_bot_api.fail_next("getFile", 400, "Bad Request: wrong file_id specified")
    with pytest.raises(BadRequest, match="Wrong file_id specified"):
        await bot.get_file("whatever")


async def test_photos_and_documents_upload_and_download(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    fake_bot_api.add_chat(SARA_CHAT)
    jpeg = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    photo = await bot.send_photo(123456789, jpeg, caption=PERSIAN)
    assert photo.caption == PERSIAN
    upload = fake_bot_api.calls_of("sendPhoto")[0]
    assert upload.content_type == "multipart/form-data"
    assert upload.files["photo"].content == jpeg
    assert upload.params["caption"] == PERSIAN
    document = await bot.send_document(123456789, b"%PDF-1.7 ...", filename="invoice-4821.pdf")
    assert document.document.file_name == "invoice-4821.pdf"
    file = await bot.get_file(photo.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == jpeg
    again = await bot.send_photo(123456789, photo.photo[-1].file_id)
    assert again.photo[-1].file_unique_id == photo.photo[-1].file_unique_id


async def test_a_file_a_customer_sent_is_fetched_with_get_file(
    fake_bot_api: FakeBotApi, bot: Bot
) -> None:
    voice = fake_bot_api.add_file(b"OggS voice note", folder="voice", suffix=".oga")
    file = await bot.get_file(voice.file_id)
    assert (file.file_size, file.file_path) == (
        15,
        f"{fake_bot_api.base_file_url}{fake_bot_api.token}/voice/file_1.oga",
    )
    assert bytes(await file.download_as_bytearray()) == b"OggS voice note"
    with pytest.raises(BadRequest, match="(?i)invalid file_id"):
        await bot.get_file("BQAC-unknown")


async def test_files_over_20_mb_cannot_be_fetched(fake_bot_api: FakeBotApi, bot: Bot) -> None:
    video = fake_bot_api.add_file(b"...", size=25 * 1024 * 1024)
    with pytest.raises(BadRequest, match="(?i)file is too big"):
        await bot.get_file(video.file_id)


async def test_a_file_url_needs_the_right_token(fake_bot_api: FakeBotApi) -> None:
    stored = fake_bot_api.add_file(b"secret bytes")
    async with aiohttp.ClientSession() as http:
        wrong = f"{fake_bot_api.base_file_url}7012345678:nope/{stored.file_path}"
        async with http.get(wrong) as answer:
            assert answer.status == 404
        right = f"{fake_bot_api.base_file_url}{fake_bot_api.token}/{stored.file_path}"
        async with http.get(right) as answer:
            assert await answer.read() == b"secret bytes"
