"""What the adapter makes of each update: ids, sender, threading, edits, consent, groups."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from channels.base import ChannelConfig
from channels.telegram.adapter import TelegramBotAdapter
from channels.telegram.errors import UnsupportedUpdate
from channels.telegram.thread_keys import CHAT, MESSAGE
from timeline.events import (
    ConsentChanged,
    ExternalIdentity,
    IdentityKind,
    MessageEdited,
    MessageReceived,
    RawPayload,
    ThreadKey,
)

from .fake_bot_api import DEFAULT_TOKEN

FIXTURES = Path(__file__).with_name("fixtures")
SARA = ExternalIdentity(IdentityKind.TELEGRAM, "123456789")


def adapter(*, groups: bool = False) -> TelegramBotAdapter:
    return TelegramBotAdapter(
        ChannelConfig(
            id=7,
            workspace_id=1,
            address="@switchboard_demo_bot",
            credentials={"bot_token": DEFAULT_TOKEN},
            settings={"groups": groups},
        )
    )


def raw(name: str) -> RawPayload:
    return RawPayload("application/json", (FIXTURES / f"{name}.json").read_bytes())


def test_a_text_is_received_from_the_telegram_user_under_its_chat_and_message_id() -> None:
    payload = raw("message_received__text")
    (event,) = adapter().parse(payload)
    assert isinstance(event, MessageReceived)
    assert event.sender == SARA
    assert event.external_id == "123456789:101"
    assert event.raw_ref == payload.digest
    assert event.thread is not None and event.thread.continues_sender
    assert event.thread.keys == (ThreadKey(MESSAGE, "123456789:101"),)
    assert event.thread.refers_to == ()


def test_a_reply_refers_to_the_message_it_answers() -> None:
    (event,) = adapter().parse(raw("message_received__reply"))
    assert event.thread is not None
    assert event.thread.refers_to == (ThreadKey(MESSAGE, "123456789:100"),)


def test_a_photo_keeps_its_caption_and_the_file_as_an_attachment() -> None:
    (event,) = adapter().parse(raw("message_received__photo_caption"))
    assert isinstance(event, MessageReceived)
    update = json.loads((FIXTURES / "message_received__photo_caption.json").read_bytes())
    assert event.body == update["message"]["caption"]
    (attachment,) = event.attachments
    assert attachment.content_type == "image/jpeg"
    assert attachment.size == max(size["file_size"] for size in update["message"]["photo"])


def test_a_voice_note_is_described() -> None:
    (event,) = adapter().parse(raw("message_received__voice"))
    assert isinstance(event, MessageReceived)
    assert event.body.startswith("Voice, ")
    assert event.attachments[0].content_type == "audio/ogg"


def test_an_edit_names_the_message_it_changes_and_its_own_time() -> None:
    (event,) = adapter().parse(raw("message_edited__text"))
    assert isinstance(event, MessageEdited)
    assert event.original_id == "123456789:119"
    assert event.external_id == "123456789:119:edited:1796550540"
    assert event.body == "I ordered the blue one, not the green one"


@pytest.mark.parametrize(("name", "granted"), [("start", True), ("stop", False)])
def test_start_and_stop_change_consent_besides_being_messages(name: str, granted: bool) -> None:
    received, consent = adapter().parse(raw(f"message_received__{name}"))
    assert isinstance(received, MessageReceived)
    assert isinstance(consent, ConsentChanged)
    assert (consent.granted, consent.keyword) == (granted, f"/{name}")
    assert consent.external_id == received.external_id + ":consent"


def test_a_deep_links_payload_is_claimed_as_a_link_for_the_core_to_verify() -> None:
    received, _ = adapter().parse(raw("message_received__start_payload"))
    assert isinstance(received, MessageReceived)
    assert received.claimed_link == "c_9f8e7d6c5b4a"
    (plain, _) = adapter().parse(raw("message_received__start"))
    assert isinstance(plain, MessageReceived) and plain.claimed_link is None


def test_a_deep_link_to_another_bot_claims_nothing() -> None:
    update = json.loads((FIXTURES / "message_received__start_payload.json").read_bytes())
    update["message"]["text"] = "/start@other_bot c_9f8e7d6c5b4a"
    update["message"]["entities"][0]["length"] = len("/start@other_bot")
    events = adapter().parse(RawPayload("application/json", json.dumps(update).encode()))
    assert [e.claimed_link for e in events if isinstance(e, MessageReceived)] == [None]


def test_a_stop_addressed_to_another_bot_changes_nothing() -> None:
    update = json.loads((FIXTURES / "message_received__stop.json").read_bytes())
    update["message"]["text"] = "/stop@other_bot"
    update["message"]["entities"][0]["length"] = len("/stop@other_bot")
    events = adapter().parse(RawPayload("application/json", json.dumps(update).encode()))
    assert [type(event) for event in events] == [MessageReceived]


@pytest.mark.parametrize("name", ["unsupported__group_text", "unsupported__supergroup_reply"])
def test_group_chats_are_declined_while_groups_are_off(name: str) -> None:
    with pytest.raises(UnsupportedUpdate) as declined:
        adapter().parse(raw(name))
    assert declined.value.update_type.startswith("message:")


def test_with_groups_on_a_group_is_one_conversation_whoever_writes() -> None:
    (event,) = adapter(groups=True).parse(raw("unsupported__group_text"))
    update = json.loads((FIXTURES / "unsupported__group_text.json").read_bytes())
    chat = ThreadKey(CHAT, str(update["message"]["chat"]["id"]))
    assert event.thread is not None and not event.thread.continues_sender
    assert event.thread.refers_to[-1] == chat
    assert chat in event.thread.keys
    assert event.sender.value == str(update["message"]["from"]["id"])


def test_an_unsupported_type_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    bot = adapter()
    with caplog.at_level(logging.WARNING, logger="channels.telegram.adapter"):
        for _ in range(3):
            with pytest.raises(UnsupportedUpdate):
                bot.parse(raw("unsupported__poll"))
        with pytest.raises(UnsupportedUpdate):
            bot.parse(raw("unsupported__inline_query"))
    assert [record.getMessage().count("poll") for record in caplog.records] == [1, 0]


def test_only_a_contact_card_of_the_senders_own_vouches_for_its_phone() -> None:
    (own,) = adapter().parse(raw("message_received__contact_own"))
    (other,) = adapter().parse(raw("message_received__contact_other"))
    assert isinstance(own, MessageReceived) and isinstance(other, MessageReceived)
    assert own.vouched == (ExternalIdentity(IdentityKind.PHONE, "+989121234567"),)
    assert other.vouched == ()
