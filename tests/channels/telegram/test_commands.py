"""Commands at the start of a message: /start with its deep-link payload, /stop, addressing."""

from __future__ import annotations

import pytest

from channels.telegram.commands import BotCommand, deep_link, leading_command
from channels.telegram.entities import FormattedText, TextEntity


def command(text: str) -> BotCommand | None:
    length = len(text.split()[0]) if text.strip() else 0
    return leading_command(FormattedText(text, (TextEntity("bot_command", 0, length),)))


@pytest.mark.parametrize(
    ("text", "name", "addressed_to", "argument"),
    [
        ("/start", "start", None, ""),
        ("/start c_9f8e7d6c5b4a", "start", None, "c_9f8e7d6c5b4a"),
        ("/START@Switchboard_Demo_Bot  abc-123 ", "start", "Switchboard_Demo_Bot", "abc-123"),
        ("/stop\nplease", "stop", None, "please"),
        ("/help@other_bot", "help", "other_bot", ""),
    ],
)
def test_commands_are_read(text: str, name: str, addressed_to: str | None, argument: str) -> None:
    assert command(text) == BotCommand(name, addressed_to, argument)


@pytest.mark.parametrize("text", ["/", "/ start", "/start/now", "/" + "x" * 33])
def test_what_only_looks_like_a_command(text: str) -> None:
    assert command(text) is None


def test_a_command_for_another_bot_is_not_ours() -> None:
    ours = command("/stop@switchboard_demo_bot")
    theirs = command("/stop@other_bot")
    plain = command("/stop")
    assert ours is not None and theirs is not None and plain is not None
    assert ours.is_for("Switchboard_Demo_Bot") and plain.is_for("switchboard_demo_bot")
    assert not theirs.is_for("switchboard_demo_bot")


@pytest.mark.parametrize(
    ("argument", "payload"),
    [
        ("c_9f8e7d6c5b4a", "c_9f8e7d6c5b4a"),
        ("A" * 64, "A" * 64),
        ("A" * 65, None),
        ("two words", None),
        ("سلام", None),
        ("", None),
    ],
)
def test_a_start_payload_is_what_a_deep_link_can_carry(argument: str, payload: str | None) -> None:
    started = command(f"/start {argument}")
    assert started is not None and started.start_payload == payload


def test_consent_and_payloads_belong_to_start_and_stop_only() -> None:
    assert [command(t).consent for t in ("/start", "/stop", "/help")] == [True, False, None]  # type: ignore[union-attr]
    other = command("/help c_123")
    assert other is not None and other.start_payload is None


def test_a_deep_link_needs_the_bots_username_and_a_payload_a_link_can_carry() -> None:
    assert deep_link("@acme_support_bot", "42_20000_abc-DEF") == (
        "https://t.me/acme_support_bot?start=42_20000_abc-DEF"
    )
    assert deep_link("bot123456789", "42_20000_abc") is None  # known by its id only
    assert deep_link("@acme_support_bot", "A" * 65) is None
    assert deep_link("@acme_support_bot", "a b") is None
