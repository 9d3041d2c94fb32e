"""Every recorded update reads as its name says, and each kind of content is described whole."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.base import MalformedPayload, UnsupportedEvent
from channels.telegram.entities import TextEntity
from channels.telegram.errors import MalformedUpdate, UnsupportedUpdate
from channels.telegram.media import MediaKind
from channels.telegram.update import ChatType, ParsedUpdate, parse_update, read_update
from timeline.events import ExternalIdentity, IdentityKind

FIXTURES = Path(__file__).with_name("fixtures")


def fixture(name: str) -> ParsedUpdate:
    return parse_update((FIXTURES / f"{name}.json").read_bytes())


def raw(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_bytes())


@pytest.mark.parametrize(
    "path", sorted(FIXTURES.glob("message_*__*.json")), ids=lambda path: path.name
)
def test_every_message_fixture_parses(path: Path) -> None:
    update = parse_update(path.read_bytes())
    assert update.edited == path.name.startswith("message_edited__")
    assert update.update_id == json.loads(path.read_bytes())["update_id"]


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("malformed__*.json")), ids=lambda p: p.name)
def test_every_malformed_fixture_is_refused_as_malformed(path: Path) -> None:
    with pytest.raises(MalformedUpdate) as refused:
        parse_update(path.read_bytes())
    assert isinstance(refused.value, MalformedPayload)


@pytest.mark.parametrize(
    ("name", "update_type"),
    [
        ("unsupported__poll", "poll"),
        ("unsupported__chat_member", "chat_member"),
        ("unsupported__inline_query", "inline_query"),
        ("unsupported__my_chat_member_blocked", "my_chat_member"),
        ("unsupported__dice", "message:dice"),
    ],
)
def test_unsupported_updates_name_their_type(name: str, update_type: str) -> None:
    with pytest.raises(UnsupportedUpdate) as refused:
        fixture(name)
    assert refused.value.update_type == update_type
    assert isinstance(refused.value, UnsupportedEvent)


def test_every_unsupported_fixture_is_listed_above() -> None:
    names = {path.stem for path in FIXTURES.glob("unsupported__*.json")}
    assert names == {
        "unsupported__poll",
        "unsupported__chat_member",
        "unsupported__inline_query",
        "unsupported__my_chat_member_blocked",
        "unsupported__dice",
        # Messages the parser reads, in group chats, which the channel declines while groups
        # are off (as on the demo account the contract suite uses): tests/.../test_inbound.py.
        "unsupported__group_text",
        "unsupported__supergroup_reply",
    }


def test_a_text_message_in_a_private_chat() -> None:
    message = fixture("message_received__text").message
    assert message.message_id == 101
    assert (message.chat.id, message.chat.type) == (123456789, ChatType.PRIVATE)
    assert message.sender.identity == ExternalIdentity(IdentityKind.TELEGRAM, "123456789")
    assert message.sender.display_name == "Sara Ahmadi"
    assert message.sender.username == "sara_ahmadi"
    assert message.sent_at == datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
    assert message.edited_at is None
    assert message.text.text.startswith("Hi, my order #4821")
    [url] = message.text.entities
    assert message.text.text[url.start : url.end] == "https://example.com/t/4821"
    assert (message.media, message.command, message.reply_to_message_id) == ((), None, None)


def test_persian_text_and_its_entities_arrive_exactly() -> None:
    message = fixture("message_received__text_persian_entities").message
    sent = raw("message_received__text_persian_entities")["message"]
    assert message.text.text == sent["text"]
    spans = {e.type: message.text.text[e.start : e.end] for e in message.text.entities}
    assert spans == {
        "bold": "سفارش\u200cام",
        "italic": "دریافت نکردم",
        "underline": "نکردم",
        "hashtag": "#پیگیری",
        "text_link": "جزئیات",
        "url": "https://example.com/t/4821",
    }
    link = next(e for e in message.text.entities if e.type == "text_link")
    assert link.url == "https://example.com/orders/4821"
    assert message.text.to_bot_api() == sent["entities"]


def test_a_photo_keeps_its_largest_size_and_its_caption() -> None:
    message = fixture("message_received__photo_caption").message
    [photo] = message.media
    assert (photo.kind, photo.width, photo.height) == (MediaKind.PHOTO, 1280, 960)
    assert photo.file_id == "AgACAgQAAxkBAAIBZWdTphotoLarge1280AAQ"
    assert (photo.mime_type, photo.file_name, photo.file_size) == (
        "image/jpeg",
        "photo-AQADsm03.jpg",
        151208,
    )
    assert message.text_is_caption
    assert message.text.text == "عکس بسته\u200cی آسیب\u200cدیده 📦 — damaged box"
    [bold] = message.text.entities
    assert message.text.text[bold.start : bold.end] == "آسیب\u200cدیده"


@pytest.mark.parametrize(
    ("name", "kind", "mime_type", "file_name", "summary"),
    [
        (
            "document",
            MediaKind.DOCUMENT,
            "application/pdf",
            "invoice-4821.pdf",
            "Document, invoice-4821.pdf",
        ),
        ("voice", MediaKind.VOICE, "audio/ogg", "voice-AgADvoice07.ogg", "Voice, 0:07"),
        (
            "audio",
            MediaKind.AUDIO,
            "audio/mpeg",
            "hold-music.mp3",
            "Audio, hold-music.mp3, Acme Band – Hold music, 3:34",
        ),
        ("video", MediaKind.VIDEO, "video/mp4", "unboxing.mp4", "Video, unboxing.mp4, 0:12"),
        (
            "sticker",
            MediaKind.STICKER,
            "image/webp",
            "sticker-AgADsticker.webp",
            "Sticker 😢 from the set HotCherry",
        ),
    ],
)
def test_each_kind_of_file_is_described(
    name: str, kind: MediaKind, mime_type: str, file_name: str, summary: str
) -> None:
    [media] = fixture(f"message_received__{name}").message.media
    assert (media.kind, media.mime_type, media.file_name) == (kind, mime_type, file_name)
    assert media.file_id == raw(f"message_received__{name}")["message"][name]["file_id"]
    assert media.summary() == summary


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd\x00.pdf", "_.._etc_passwd.pdf"),
        ("C:\\Users\\sara\\فاکتور.pdf", "C:_Users_sara_فاکتور.pdf"),
        ("..", "document-AgADdoc4821.pdf"),
        ("x" * 300, "x" * 255),
    ],
)
def test_a_senders_file_name_is_made_harmless(given: str, kept: str) -> None:
    update = raw("message_received__document")
    update["message"]["document"]["file_name"] = given
    [document] = read_update(update).message.media
    assert document.file_name == kept


def test_the_photos_of_an_album_share_their_media_group_id() -> None:
    update = raw("message_received__photo_caption")
    update["message"]["media_group_id"] = "13962418563245128"
    assert read_update(update).message.media_group_id == "13962418563245128"
    assert fixture("message_received__photo_caption").message.media_group_id is None


def test_a_photo_summary_names_its_size() -> None:
    [photo] = fixture("message_received__photo_caption").message.media
    assert photo.summary() == "Photo, 1280×960"


def test_an_animation_is_not_also_read_as_the_document_telegram_repeats_it_in() -> None:
    update = raw("message_received__document")
    gif = {
        "file_id": "CgACAgQ",
        "file_unique_id": "AgADgif",
        "duration": 3,
        "mime_type": "video/mp4",
    }
    update["message"].update(animation=gif, document={**gif, "file_name": "cat.gif.mp4"})
    [media] = read_update(update).message.media
    assert (media.kind, media.duration) == (MediaKind.ANIMATION, 3)


@pytest.mark.parametrize(
    ("sticker", "mime_type"),
    [({"is_animated": True}, "application/x-tgsticker"), ({"is_video": True}, "video/webm")],
)
def test_animated_and_video_stickers_have_their_own_types(sticker: dict, mime_type: str) -> None:
    update = raw("message_received__sticker")
    update["message"]["sticker"].update(sticker)
    [media] = read_update(update).message.media
    assert media.mime_type == mime_type


def test_a_location_and_a_venue() -> None:
    location = fixture("message_received__location").message.location
    assert location is not None
    assert (location.latitude, location.longitude, location.horizontal_accuracy) == (
        35.699756,
        51.338076,
        18.5,
    )
    message = fixture("message_received__venue").message
    assert message.venue is not None
    assert (message.venue.title, message.venue.address) == (
        "مرکز خرید تندیس",
        "تهران، خیابان ولیعصر",
    )
    assert message.location == message.venue.location


def test_the_senders_own_contact_becomes_an_international_phone_identity() -> None:
    contact = fixture("message_received__contact_own").message.contact
    assert contact is not None
    assert contact.phone_number == "989121234567"
    assert contact.phone == ExternalIdentity(IdentityKind.PHONE, "+989121234567")
    assert contact.is_senders_own


def test_someone_elses_contact_is_content_not_a_claim_about_the_sender() -> None:
    contact = fixture("message_received__contact_other").message.contact
    assert contact is not None
    assert contact.phone == ExternalIdentity(IdentityKind.PHONE, "+447700900123")
    assert not contact.is_senders_own
    assert contact.vcard is not None and "FN:Oliver Brown" in contact.vcard


def test_a_contact_with_an_impossible_number_keeps_the_number_without_an_identity() -> None:
    update = raw("message_received__contact_own")
    update["message"]["contact"]["phone_number"] = "12"
    contact = read_update(update).message.contact
    assert contact is not None
    assert (contact.phone_number, contact.phone) == ("12", None)


def test_a_reply_names_the_message_it_answers() -> None:
    assert fixture("message_received__reply").message.reply_to_message_id == 100


def test_group_and_supergroup_chats() -> None:
    group = fixture("unsupported__group_text").message
    assert (group.chat.id, group.chat.type, group.chat.title) == (
        -4012345678,
        ChatType.GROUP,
        "Acme customers",
    )
    assert group.sender.identity.value == "987654321"
    supergroup = fixture("unsupported__supergroup_reply").message
    assert (supergroup.chat.id, supergroup.chat.type) == (-1001234567890, ChatType.SUPERGROUP)
    assert supergroup.reply_to_message_id == 5001


def test_an_anonymous_admin_writes_on_behalf_of_the_group() -> None:
    update = raw("unsupported__supergroup_reply")
    group = update["message"]["chat"]
    update["message"].update(
        sender_chat=group,
        **{"from": {"id": 1087968824, "is_bot": True, "first_name": "Group"}},
    )
    message = read_update(update).message
    assert message.sender_chat is not None and message.sender_chat.id == group["id"]
    assert message.sender.is_bot and message.sender.identity.value == "1087968824"
    assert fixture("unsupported__supergroup_reply").message.sender_chat is None


def test_start_with_a_deep_link_payload() -> None:
    command = fixture("message_received__start_payload").message.command
    assert command is not None
    assert (command.name, command.start_payload, command.consent) == (
        "start",
        "c_9f8e7d6c5b4a",
        True,
    )


def test_start_and_stop_are_consent() -> None:
    start = fixture("message_received__start").message.command
    stop = fixture("message_received__stop").message.command
    assert start is not None and stop is not None
    assert (start.consent, start.start_payload) == (True, None)
    assert stop.consent is False


def test_an_edit_carries_its_edit_time_and_the_new_text() -> None:
    update = fixture("message_edited__text")
    assert update.edited
    assert update.message.message_id == 119
    assert update.message.edited_at == datetime(2026, 12, 6, 9, 49, tzinfo=UTC)
    assert update.message.text.text == "I ordered the blue one, not the green one"
    caption = fixture("message_edited__caption").message
    assert caption.text_is_caption and caption.text.entities == (TextEntity("bold", 0, 3),)


def test_an_edit_without_its_edit_date_is_malformed() -> None:
    update = raw("message_edited__text")
    del update["edited_message"]["edit_date"]
    with pytest.raises(MalformedUpdate, match="edit_date"):
        read_update(update)


def test_a_caption_starting_with_a_slash_is_not_a_command() -> None:
    update = raw("message_received__photo_caption")
    update["message"].update(
        caption="/stop", caption_entities=[{"type": "bot_command", "offset": 0, "length": 5}]
    )
    assert read_update(update).message.command is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"text": "\ud83d lonely"}, "surrogate pair"),
        ({"chat": {"id": 1, "type": "secret"}}, "type 'secret'"),
        ({"from": None}, "no sender"),
        ({"date": "yesterday"}, "Unix time date"),
        ({"photo": []}, "PhotoSize"),
        ({"voice": {"file_id": "x"}}, "file_unique_id"),
        ({"location": {"latitude": 91, "longitude": 0}}, "latitude"),
        ({"reply_to_message": {"text": "no id"}}, "reply_to_message"),
        ({"entities": [{"type": "text_link", "offset": 0, "length": 2}]}, "without a url"),
        ({"entities": [{"type": "bold", "offset": 0, "length": 0}]}, "positive length"),
        ({"entities": True}, "not a list"),
    ],
)
def test_malformed_messages_say_what_is_wrong(change: dict, reason: str) -> None:
    update = raw("message_received__text")
    update["message"].update(change)
    with pytest.raises(MalformedUpdate, match=reason):
        read_update(update)


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b"\xff\xfe",
        b'{"update_id": 1}',
        b'{"update_id": true, "message": {}}',
        b'{"update_id": 1, "message": {}, "poll": {}}',
    ],
)
def test_bodies_that_are_no_update(body: bytes) -> None:
    with pytest.raises(MalformedUpdate):
        parse_update(body)


def test_a_service_message_is_unsupported_not_malformed() -> None:
    update = raw("message_received__text")
    del update["message"]["text"], update["message"]["entities"]
    update["message"]["pinned_message"] = {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 1, "type": "private"},
    }
    with pytest.raises(UnsupportedUpdate) as refused:
        read_update(update)
    assert refused.value.update_type == "message:pinned_message"


@pytest.mark.parametrize(
    "entities",
    [
        [],
        [{"type": "bot_command", "offset": 10, "length": 6}],
        [{"type": "bold", "offset": 0, "length": 5}],
    ],
)
def test_only_a_bot_command_entity_at_the_start_makes_a_command(entities: list) -> None:
    update = raw("message_received__stop")
    update["message"].update(text="/stop and /start", entities=entities)
    assert read_update(update).message.command is None


def test_json_nested_past_the_recursion_limit_is_malformed() -> None:
    with pytest.raises(MalformedUpdate):
        parse_update(b"[" * 100_000)


def test_an_update_type_that_is_no_bot_api_name_is_malformed() -> None:
    with pytest.raises(MalformedUpdate):
        parse_update(b'{"update_id": 1, "poll\\nFAKE LOG LINE": {}}')
