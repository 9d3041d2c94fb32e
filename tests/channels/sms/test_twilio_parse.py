"""TwilioSmsAdapter.parse: recorded webhooks to typed events, and refusals of bad payloads."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from channels import registry
from channels.base import Capabilities, ChannelConfig, MalformedPayload, UnsupportedEvent
from channels.sms.twilio import TwilioSmsAdapter
from timeline.events import (
    Attachment,
    ConsentChanged,
    DeliveryStatus,
    ExternalIdentity,
    IdentityKind,
    MessageReceived,
    MessageStatusChanged,
    RawPayload,
)

FIXTURES = Path(__file__).parent / "fixtures"
FORM = "application/x-www-form-urlencoded"
NOW = datetime(2024, 8, 24, 17, 1, 30, tzinfo=UTC)
OUR_NUMBER = "+15017122661"
CUSTOMER = ExternalIdentity(IdentityKind.PHONE, "+15558675310")
US = ExternalIdentity(IdentityKind.PHONE, OUR_NUMBER)
ACCOUNT = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"


def make_adapter() -> TwilioSmsAdapter:
    config = ChannelConfig(
        id=7,
        workspace_id=1,
        address=OUR_NUMBER,
        credentials={"account_sid": ACCOUNT, "auth_token": "token"},
    )
    return TwilioSmsAdapter(config, clock=lambda: NOW)


def fixture(name: str) -> RawPayload:
    return RawPayload(content_type=FORM, body=(FIXTURES / name).read_bytes())


def fields(name: str) -> dict[str, str]:
    return dict(parse_qsl((FIXTURES / name).read_text("ascii"), keep_blank_values=True))


def edited(name: str, drop: tuple[str, ...] = (), **changes: str) -> RawPayload:
    """A fixture with some fields removed or changed, re-encoded as Twilio would."""
    values = {k: v for k, v in fields(name).items() if k not in drop} | changes
    return RawPayload(content_type=FORM, body=urlencode(values).encode("ascii"))


def parse(raw: RawPayload) -> list:
    return make_adapter().parse(raw)


def received(name: str, **overrides: object) -> MessageReceived:
    """The MessageReceived a fixture should give, built from its raw fields by hand."""
    raw_fields = fields(name)
    values: dict = {
        "channel_account_id": 7,
        "kind": "sms",
        "sender": ExternalIdentity(IdentityKind.PHONE, raw_fields["From"]),
        "external_id": raw_fields["MessageSid"],
        "occurred_at": NOW,
        "raw_ref": hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest(),
        "body": raw_fields["Body"],
        "recipients": (US,),
    }
    return MessageReceived(**(values | overrides))


# -- recorded webhooks -----------------------------------------------------------------------


def test_plain_message() -> None:
    name = "message_received__plain.form"
    assert parse(fixture(name)) == [received(name, body="Hello! Has my order #1234 shipped yet?")]
    assert received(name).sender == CUSTOMER
    assert received(name).thread is None


def test_persian_message_arrives_intact() -> None:
    name = "message_received__unicode_persian.form"
    (event,) = parse(fixture(name))
    assert event == received(name)
    assert event.body == "سلام، سفارش من کی می\u200cرسد؟ 🙏"
    assert event.sender == ExternalIdentity(IdentityKind.PHONE, "+989121234567")


def test_multipart_message_keeps_its_segment_count() -> None:
    name = "message_received__multipart.form"
    (event,) = parse(fixture(name))
    assert event == received(name, segments=3)
    assert len(event.body) > 306
    assert event.body.endswith("Thanks a lot!")


def test_mms_carries_its_media_as_url_attachments() -> None:
    name = "message_received__mms.form"
    raw_fields = fields(name)
    media_base = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/"
    (event,) = parse(fixture(name))
    assert event.external_id.startswith("MM")
    assert event.attachments == (
        Attachment(
            filename=raw_fields["MediaUrl0"].rsplit("/", 1)[1] + ".jpg",
            content_type="image/jpeg",
            url=raw_fields["MediaUrl0"],
        ),
        Attachment(
            filename=raw_fields["MediaUrl1"].rsplit("/", 1)[1] + ".png",
            content_type="image/png",
            url=raw_fields["MediaUrl1"],
        ),
    )
    assert all(a.url and a.url.startswith(media_base) for a in event.attachments)
    assert all(a.filename.startswith("ME") for a in event.attachments)
    assert event == received(name, attachments=event.attachments)


def test_stop_gives_the_message_and_an_opt_out() -> None:
    name = "message_received__stop.form"
    sid = fields(name)["MessageSid"]
    message, consent = parse(fixture(name))
    assert message == received(name, extra=(("keyword", "stop"),))
    assert consent == ConsentChanged(
        channel_account_id=7,
        kind="sms",
        sender=CUSTOMER,
        external_id=f"{sid}:consent",
        occurred_at=NOW,
        raw_ref=message.raw_ref,
        granted=False,
        keyword="STOP",
    )


def test_start_gives_the_message_and_an_opt_in() -> None:
    name = "message_received__start.form"
    message, consent = parse(fixture(name))
    assert message == received(name, extra=(("keyword", "start"),))
    assert isinstance(consent, ConsentChanged)
    assert consent.granted is True
    assert consent.keyword == "START"
    assert consent.external_id == message.external_id + ":consent"


def test_help_is_a_message_marked_as_a_keyword() -> None:
    name = "message_received__help.form"
    assert parse(fixture(name)) == [received(name, extra=(("keyword", "help"),))]


def test_opt_out_type_turns_a_custom_keyword_into_an_opt_out() -> None:
    events = parse(edited("message_received__plain.form", Body="Baja", OptOutType="STOP"))
    assert [type(e) for e in events] == [MessageReceived, ConsentChanged]
    assert events[1].keyword == "BAJA"
    assert events[1].granted is False


def test_sent_status_callback() -> None:
    name = "status_callback__sent.form"
    assert parse(fixture(name)) == [
        MessageStatusChanged(
            channel_account_id=7,
            kind="sms",
            sender=CUSTOMER,
            external_id="SM1f0e8ae6ade43cb3c0ce4525424e404f",
            occurred_at=NOW,
            raw_ref=hashlib.sha256((FIXTURES / name).read_bytes()).hexdigest(),
            status=DeliveryStatus.SENT,
        )
    ]


def test_delivered_status_callback() -> None:
    (event,) = parse(fixture("status_callback__delivered.form"))
    assert isinstance(event, MessageStatusChanged)
    assert event.external_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert event.status is DeliveryStatus.DELIVERED
    assert event.error_code is None
    assert event.error_message is None


def test_undelivered_status_callback_explains_the_error() -> None:
    name = "status_callback__undelivered.form"
    (event,) = parse(fixture(name))
    assert isinstance(event, MessageStatusChanged)
    assert event.external_id == fields(name)["MessageSid"]
    assert event.status is DeliveryStatus.FAILED
    assert event.error_code == "30003"
    assert event.error_message == "Unreachable destination handset"


@pytest.mark.parametrize(
    ("twilio_status", "status"),
    [
        ("accepted", DeliveryStatus.QUEUED),
        ("scheduled", DeliveryStatus.QUEUED),
        ("queued", DeliveryStatus.QUEUED),
        ("sending", DeliveryStatus.QUEUED),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
        ("undelivered", DeliveryStatus.FAILED),
        ("failed", DeliveryStatus.FAILED),
        ("canceled", DeliveryStatus.FAILED),
    ],
)
def test_every_twilio_status_maps(twilio_status: str, status: DeliveryStatus) -> None:
    raw = edited("status_callback__sent.form", MessageStatus=twilio_status, SmsStatus=twilio_status)
    (event,) = parse(raw)
    assert event.status is status


def test_error_message_field_wins_over_the_table() -> None:
    raw = edited(
        "status_callback__undelivered.form", ErrorMessage="Carrier says the handset is off"
    )
    (event,) = parse(raw)
    assert event.error_message == "Carrier says the handset is off"


def test_unknown_error_code_still_gets_a_reason() -> None:
    (event,) = parse(edited("status_callback__undelivered.form", ErrorCode="30999"))
    assert event.error_code == "30999"
    assert event.error_message is not None
    assert "30999" in event.error_message


def test_stop_reply_error_is_explained() -> None:
    (event,) = parse(edited("status_callback__undelivered.form", ErrorCode="21610"))
    assert event.error_message is not None
    assert "STOP" in event.error_message


def test_every_fixture_is_covered_here() -> None:
    covered = {
        "message_received__plain.form",
        "message_received__unicode_persian.form",
        "message_received__multipart.form",
        "message_received__mms.form",
        "message_received__stop.form",
        "message_received__start.form",
        "message_received__help.form",
        "status_callback__sent.form",
        "status_callback__delivered.form",
        "status_callback__undelivered.form",
        "unsupported__voice_call.form",
        "malformed__missing_from.form",
    }
    assert {p.name for p in FIXTURES.glob("*.form")} == covered


def test_a_text_without_its_sender_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="From"):
        parse(fixture("malformed__missing_from.form"))


# -- unsupported -----------------------------------------------------------------------------


def test_voice_webhook_is_unsupported() -> None:
    with pytest.raises(UnsupportedEvent, match="call"):
        parse(fixture("unsupported__voice_call.form"))


@pytest.mark.parametrize("status", ["partially_delivered", "receiving", "something-new"])
def test_unknown_message_status_is_unsupported(status: str) -> None:
    with pytest.raises(UnsupportedEvent, match=status):
        parse(edited("status_callback__sent.form", MessageStatus=status, SmsStatus=status))


def test_whatsapp_sender_is_unsupported_by_the_sms_adapter() -> None:
    with pytest.raises(UnsupportedEvent, match="whatsapp"):
        parse(edited("message_received__plain.form", From="whatsapp:+15558675310"))


# -- malformed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "", "multipart/form-data"]
)
def test_wrong_content_type_is_malformed(content_type: str) -> None:
    body = (FIXTURES / "message_received__plain.form").read_bytes()
    with pytest.raises(MalformedPayload, match="content type"):
        parse(RawPayload(content_type=content_type, body=body))


def test_content_type_with_utf8_charset_is_fine() -> None:
    body = (FIXTURES / "message_received__plain.form").read_bytes()
    events = parse(RawPayload(content_type=FORM + "; charset=UTF-8", body=body))
    assert len(events) == 1


def test_a_declared_charset_is_honoured() -> None:
    body = (FIXTURES / "message_received__plain.form").read_bytes()
    accented = body.replace(b"Body=Hello", b"Body=H%E9llo")
    assert accented != body
    [message] = parse(RawPayload(content_type=FORM + "; charset=ISO-8859-1", body=accented))
    assert message.body.startswith("Héllo")


def test_a_charset_that_cannot_carry_a_form_is_malformed() -> None:
    body = (FIXTURES / "message_received__plain.form").read_bytes()
    with pytest.raises(MalformedPayload, match="charset"):
        parse(RawPayload(content_type=FORM + "; charset=UTF-16", body=body))


def test_percent_encoded_bytes_that_are_not_utf8_name_the_field() -> None:
    body = (FIXTURES / "message_received__plain.form").read_bytes()
    broken = body.replace(b"Body=Hello", b"Body=Hell%F6")
    assert broken != body
    with pytest.raises(MalformedPayload, match="field Body is not valid UTF-8"):
        parse(RawPayload(content_type=FORM, body=broken))


def test_raw_non_ascii_bytes_are_malformed() -> None:
    body = (FIXTURES / "message_received__plain.form").read_bytes()
    with pytest.raises(MalformedPayload, match="non-ASCII"):
        parse(RawPayload(content_type=FORM, body=body.replace(b"Hello", b"H\xe9llo")))


def test_field_without_equals_is_malformed() -> None:
    body = (FIXTURES / "message_received__plain.form").read_bytes() + b"&Dangling"
    with pytest.raises(MalformedPayload, match="'Dangling' is not name=value"):
        parse(RawPayload(content_type=FORM, body=body))


def test_missing_message_sid_is_malformed() -> None:
    raw = edited("message_received__plain.form", drop=("MessageSid", "SmsSid", "SmsMessageSid"))
    with pytest.raises(MalformedPayload, match="MessageSid"):
        parse(raw)


def test_sms_sid_alone_is_enough() -> None:
    name = "message_received__plain.form"
    (event,) = parse(edited(name, drop=("MessageSid",)))
    assert event.external_id == fields(name)["SmsSid"]


def test_disagreeing_message_sid_and_sms_sid_are_malformed() -> None:
    raw = edited("message_received__plain.form", SmsSid="SM" + "f" * 32)
    with pytest.raises(MalformedPayload, match="MessageSid and SmsSid differ"):
        parse(raw)


@pytest.mark.parametrize("field", ["From", "To", "AccountSid"])
def test_missing_required_field_is_named(field: str) -> None:
    with pytest.raises(MalformedPayload, match=f"missing required field {field}$"):
        parse(edited("message_received__plain.form", drop=(field,)))


def test_several_missing_fields_are_all_named() -> None:
    with pytest.raises(MalformedPayload, match="missing required fields From, To"):
        parse(edited("status_callback__sent.form", drop=("From", "To")))


def test_empty_from_counts_as_missing() -> None:
    with pytest.raises(MalformedPayload, match="missing required field From"):
        parse(edited("message_received__plain.form", From=""))


def test_missing_media_url_is_named() -> None:
    raw = edited("message_received__mms.form", drop=("MediaUrl1",))
    with pytest.raises(MalformedPayload, match="MediaUrl1"):
        parse(raw)


@pytest.mark.parametrize(("field", "value"), [("NumMedia", "two"), ("NumSegments", "-1")])
def test_counts_that_are_not_numbers_are_malformed(field: str, value: str) -> None:
    with pytest.raises(MalformedPayload, match=f"field {field} is not a count"):
        parse(edited("message_received__plain.form", **{field: value}))


def test_field_repeated_with_different_values_is_malformed() -> None:
    body = (FIXTURES / "message_received__plain.form").read_bytes() + b"&From=%2B15550000000"
    with pytest.raises(MalformedPayload, match="field From is repeated"):
        parse(RawPayload(content_type=FORM, body=body))


def test_no_status_and_no_body_is_malformed() -> None:
    raw = edited("status_callback__sent.form", drop=("MessageStatus", "SmsStatus"))
    with pytest.raises(MalformedPayload, match="MessageStatus"):
        parse(raw)


def test_empty_body_is_malformed() -> None:
    with pytest.raises(MalformedPayload, match="MessageSid"):
        parse(RawPayload(content_type=FORM, body=b""))


# -- the adapter as a whole ------------------------------------------------------------------


def test_adapter_is_registered_with_its_capabilities() -> None:
    assert registry.provider_spec("sms", "twilio").adapter is TwilioSmsAdapter
    assert TwilioSmsAdapter.capabilities == Capabilities(
        max_body_length=1600, attachments=True, delivery_receipts=True
    )


def test_webhook_response_is_empty_twiml() -> None:
    assert make_adapter().webhook_response() == (
        '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
        "text/xml",
    )


def test_occurred_at_defaults_to_now_in_utc() -> None:
    config = ChannelConfig(7, 1, OUR_NUMBER, {"account_sid": ACCOUNT, "auth_token": "t"})
    before = datetime.now(UTC)
    (event,) = TwilioSmsAdapter(config).parse(fixture("message_received__plain.form"))
    assert before <= event.occurred_at <= datetime.now(UTC)
    assert event.occurred_at.tzinfo is not None


@pytest.mark.parametrize("missing", ["account_sid", "auth_token"])
def test_missing_credentials_fail_at_construction(missing: str) -> None:
    credentials = {"account_sid": ACCOUNT, "auth_token": "t"}
    del credentials[missing]
    with pytest.raises(ValueError, match=missing):
        TwilioSmsAdapter(ChannelConfig(7, 1, OUR_NUMBER, credentials))
