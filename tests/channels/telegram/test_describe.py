"""A message's body: its text as written, else a line for each thing it carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from channels.telegram.describe import describe
from channels.telegram.update import parse_update, read_update

FIXTURES = Path(__file__).with_name("fixtures")


def body(name: str) -> str:
    return describe(parse_update((FIXTURES / f"{name}.json").read_bytes()).message)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("message_received__voice", "Voice, 0:07"),
        ("message_received__sticker", "Sticker 😢 from the set HotCherry"),
        ("message_received__location", "Location: 35.699756, 51.338076 (±18.5 m)"),
        ("message_received__venue", "Venue: مرکز خرید تندیس, تهران، خیابان ولیعصر"),
        ("message_received__contact_own", "Contact: Sara Ahmadi, +989121234567"),
        ("message_received__contact_other", "Contact: Oliver Brown, +447700900123"),
        ("message_received__video", "The box arrived like this"),
    ],
)
def test_what_a_message_carries_is_said(name: str, expected: str) -> None:
    assert body(name) == expected


def test_a_text_is_its_own_body_exactly() -> None:
    update = json.loads((FIXTURES / "message_received__text_persian_entities.json").read_bytes())
    assert body("message_received__text_persian_entities") == update["message"]["text"]


def test_a_location_without_accuracy_and_a_card_without_a_possible_number() -> None:
    update = json.loads((FIXTURES / "message_received__location.json").read_bytes())
    del update["message"]["location"]["horizontal_accuracy"]
    assert describe(read_update(update).message) == "Location: 35.699756, 51.338076"
    update = json.loads((FIXTURES / "message_received__contact_other.json").read_bytes())
    update["message"]["contact"].update(phone_number="12", first_name="", last_name=None)
    assert describe(read_update(update).message) == "Contact: 12"
