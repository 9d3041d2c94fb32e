"""Events made storable: no NUL anywhere in their text, keys and labels within their columns."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from timeline.events import (
    Attachment,
    ConsentChanged,
    DeliveryStatus,
    ExternalIdentity,
    IdentityKind,
    MessageReceived,
    MessageStatusChanged,
    Threading,
    ThreadKey,
)
from timeline.storable import KEY_FIELDS, LABEL_FIELDS, storable, storable_external_id

AT = datetime(2026, 12, 6, tzinfo=UTC)


def _texts(value: Any, name: str = "") -> list[tuple[str, str]]:
    """Every (field name, string) within an event, nested ones included."""
    if isinstance(value, str):
        return [(name, value)]
    if isinstance(value, tuple):
        return [pair for item in value for pair in _texts(item, name)]
    if is_dataclass(value):
        return [
            pair
            for item in fields(value)
            if item.name != "content"
            for pair in _texts(getattr(value, item.name), item.name)
        ]
    return []


def _message(text: str, key: str = "SM1") -> MessageReceived:
    return MessageReceived(
        channel_account_id=1,
        kind="email",
        sender=ExternalIdentity(IdentityKind.EMAIL, f"ann{text}@customer.test"),
        external_id=key,
        occurred_at=AT,
        raw_ref="digest",
        thread=Threading(
            keys=(ThreadKey("message-id", key, reply_context=text),),
            refers_to=(ThreadKey("message-id", key), ThreadKey("message-id", text)),
        ),
        body=text,
        subject=text,
        html=f"<p>{text}</p>",
        attachments=(Attachment(filename=f"{text}.pdf", content_type="application/pdf"),),
        extra=(("keyword", text),),
    )


@given(st.text())
def test_no_nul_is_left_anywhere_and_nothing_else_changes(text: str) -> None:
    event = _message(text)
    stored = storable(event)
    assert all("\x00" not in value for _, value in _texts(stored))
    expected = [(name, value.replace("\x00", "\ufffd")) for name, value in _texts(event)]
    limited = {**KEY_FIELDS, **LABEL_FIELDS}
    for (name, value), (_, want) in zip(_texts(stored), expected, strict=True):
        if name in limited and len(want) > limited[name]:
            assert len(value) == limited[name]
        else:
            assert value == want


@given(st.text(st.characters(codec=None, categories=["Cs", "L", "Zs"])))
def test_a_lone_surrogate_is_replaced_so_every_text_has_utf8(text: str) -> None:
    """JSON's "\\ud83d" decodes to a lone surrogate, which no UTF-8 encoder takes."""
    stored = storable(_message(text))
    for _, value in _texts(stored):
        value.encode("utf-8")
    assert storable(_message("a\udc00b")).body == "a\ufffdb"


def test_a_clean_event_is_kept_as_it_is() -> None:
    event = _message("plain text, Persian سلام too")
    assert storable(event) is event


def test_a_long_key_is_shortened_the_same_way_wherever_it_occurs() -> None:
    long_id = "<" + "x" * 400 + "@mailer.test>"
    stored = storable(_message("hi", key=long_id))
    assert len(stored.external_id) == KEY_FIELDS["external_id"]
    assert stored.thread is not None
    assert stored.thread.keys[0].key == stored.thread.refers_to[0].key
    assert len(stored.thread.keys[0].key) == KEY_FIELDS["key"]
    assert storable(_message("hi", key=long_id[:-1] + "!")).external_id != stored.external_id
    assert storable_external_id(long_id) == stored.external_id


def test_labels_are_cut_with_an_ellipsis() -> None:
    consent = ConsentChanged(
        channel_account_id=1,
        kind="sms",
        sender=ExternalIdentity(IdentityKind.PHONE, "+14155550123"),
        external_id="SM1:consent",
        occurred_at=AT,
        raw_ref="digest",
        granted=False,
        keyword="STOP" * 20,
    )
    assert storable(consent).keyword == "STOP" * 9 + "STO…"
    status = MessageStatusChanged(
        channel_account_id=1,
        kind="sms",
        sender=ExternalIdentity(IdentityKind.PHONE, "+14155550123"),
        external_id="SM1",
        occurred_at=AT,
        raw_ref="digest",
        status=DeliveryStatus.FAILED,
        error_message="carrier said \x00",
    )
    assert storable(status).error_message == "carrier said \ufffd"
