"""The adapter's send against the fake Bot API: parts, reply-to, files, and what refusals mean."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from channels.base import ChannelConfig, OutboundMessage, PermanentSendError
from channels.telegram.adapter import TelegramBotAdapter
from channels.telegram.api_errors import RecipientUnreachable, RetryLater
from channels.telegram.thread_keys import MESSAGE, message_key
from timeline.events import (
    Attachment,
    DeliveryStatus,
    ExternalIdentity,
    IdentityKind,
    ReplyReference,
    ThreadKey,
)

from .fake_bot_api import DEFAULT_TOKEN, FakeBotApi

SARA = 123456789


@pytest.fixture
async def adapter(fake_bot_api: FakeBotApi) -> AsyncIterator[TelegramBotAdapter]:
    fake_bot_api.add_chat({"id": SARA, "type": "private", "first_name": "Sara"})
    made = TelegramBotAdapter(
        ChannelConfig(
            id=1,
            workspace_id=1,
            address="@switchboard_demo_bot",
            credentials={"bot_token": DEFAULT_TOKEN},
            provider_base_url=fake_bot_api.base_url.removesuffix("/bot"),
        )
    )
    yield made
    await made.close()


def message(body: str, **more: object) -> OutboundMessage:
    return OutboundMessage(
        message_id=1,
        channel_account_id=1,
        recipient=ExternalIdentity(IdentityKind.TELEGRAM, str(SARA)),
        body=body,
        idempotency_key="k",
        **more,  # type: ignore[arg-type]
    )


async def test_a_long_text_goes_in_parts_the_first_answering_the_customer(
    adapter: TelegramBotAdapter, fake_bot_api: FakeBotApi
) -> None:
    answering = ReplyReference(answering=(ThreadKey(MESSAGE, f"{SARA}:101"),))
    body = ("word " * 1000).strip()
    result = await adapter.send(message(body, reply_to=answering))
    calls = fake_bot_api.calls_of("sendMessage")
    assert len(calls) == 2
    assert " ".join(call.params["text"].strip() for call in calls) == body
    assert calls[0].params["reply_parameters"]["message_id"] == 101
    assert "reply_parameters" not in calls[1].params
    assert result.status is DeliveryStatus.SENT
    assert result.external_id == f"{SARA}:1000"
    assert result.thread_keys == (message_key(SARA, 1000), message_key(SARA, 1001))


async def test_images_go_as_photos_and_other_files_as_documents(
    adapter: TelegramBotAdapter, fake_bot_api: FakeBotApi
) -> None:
    files = (
        Attachment("map.png", "image/png", content=b"\x89PNG..."),
        Attachment("invoice.pdf", "application/pdf", content=b"%PDF-1.7"),
    )
    await adapter.send(message("", attachments=files))
    (photo,) = fake_bot_api.calls_of("sendPhoto")
    (document,) = fake_bot_api.calls_of("sendDocument")
    assert photo.files["photo"].content == b"\x89PNG..."
    assert document.files["document"].filename == "invoice.pdf"


async def test_a_block_makes_the_recipient_unreachable(
    adapter: TelegramBotAdapter, fake_bot_api: FakeBotApi
) -> None:
    fake_bot_api.block(SARA)
    with pytest.raises(RecipientUnreachable, match="blocked"):
        await adapter.send(message("hello"))


async def test_flood_control_says_how_long_to_wait(
    adapter: TelegramBotAdapter, fake_bot_api: FakeBotApi
) -> None:
    fake_bot_api.retry_after("sendMessage", 7)
    with pytest.raises(RetryLater) as later:
        await adapter.send(message("hello"))
    assert later.value.retry_after == 7


async def test_nothing_to_send_or_no_one_to_send_it_to_fails(
    adapter: TelegramBotAdapter,
) -> None:
    with pytest.raises(PermanentSendError, match="neither"):
        await adapter.send(message(""))
    phone = ExternalIdentity(IdentityKind.PHONE, "+14155550123")
    with pytest.raises(PermanentSendError, match="phone"):
        await adapter.send(
            OutboundMessage(
                message_id=1, channel_account_id=1, recipient=phone, body="x", idempotency_key="k"
            )
        )


async def test_a_failure_after_a_first_part_went_out_is_not_retried(
    adapter: TelegramBotAdapter, fake_bot_api: FakeBotApi
) -> None:
    fake_bot_api.retry_after("sendPhoto", 5)
    photo = Attachment("map.png", "image/png", content=b"\x89PNG...")
    with pytest.raises(PermanentSendError, match=r"only 1 part\(s\) were sent, then: .*wait 5"):
        await adapter.send(message("Here is the map:", attachments=(photo,)))
    assert len(fake_bot_api.calls_of("sendMessage")) == 1


async def test_a_replys_html_reaches_telegram_as_its_formatting(
    adapter: TelegramBotAdapter, fake_bot_api: FakeBotApi
) -> None:
    html = (
        "<p>Your <b>parcel</b> left <i>today</i>: "
        '<a href="https://track.example/1?a=1&amp;b=2">track it</a>, code <code>AB-12</code></p>'
        "<p>Sara &lt;3</p>"
    )
    await adapter.send(message("Your parcel left today", html=html))
    (call,) = fake_bot_api.calls_of("sendMessage")
    assert call.params["parse_mode"] == "HTML"
    stored = fake_bot_api.messages[(SARA, 1000)]
    assert stored["text"] == "Your parcel left today: track it, code AB-12\n\nSara <3"
    assert stored["entities"] == [
        {"type": "bold", "offset": 5, "length": 6},
        {"type": "italic", "offset": 17, "length": 5},
        {"type": "text_link", "offset": 24, "length": 8, "url": "https://track.example/1?a=1&b=2"},
        {"type": "code", "offset": 39, "length": 5},
    ]


async def test_plain_text_is_sent_exactly_markup_characters_included(
    adapter: TelegramBotAdapter, fake_bot_api: FakeBotApi
) -> None:
    body = "if a < b && c > d: <b>not bold</b>"
    await adapter.send(message(body))
    assert fake_bot_api.messages[(SARA, 1000)]["text"] == body
    assert "entities" not in fake_bot_api.messages[(SARA, 1000)]


async def test_formatting_across_the_limit_continues_in_the_next_part(
    adapter: TelegramBotAdapter, fake_bot_api: FakeBotApi
) -> None:
    words = ("word " * 1000).strip()
    await adapter.send(message(words, html=f"<p><b>{words}</b></p>"))
    parts = [fake_bot_api.messages[(SARA, 1000)], fake_bot_api.messages[(SARA, 1001)]]
    assert " ".join(part["text"].strip() for part in parts) == words
    for part in parts:
        (bold,) = part["entities"]
        assert bold["type"] == "bold" and bold["offset"] == 0
        assert bold["length"] >= len(part["text"].strip())


async def test_a_reply_in_a_group_goes_to_the_group_answering_its_member(
    adapter: TelegramBotAdapter, fake_bot_api: FakeBotApi
) -> None:
    group = -4012345678
    fake_bot_api.add_chat({"id": group, "type": "group", "title": "Acme customers"})
    answering = ReplyReference(answering=(ThreadKey(MESSAGE, f"{group}:115"),))
    result = await adapter.send(message("On it.", reply_to=answering))
    (call,) = fake_bot_api.calls_of("sendMessage")
    assert call.params["chat_id"] == str(group)
    assert call.params["reply_parameters"]["message_id"] == 115
    assert result.external_id == f"{group}:1000"
