"""Link tokens: issued for one customer of one workspace, verified without anything stored,
refused when altered, foreign, expired or made with another key."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from timeline.link_tokens import MAX_TOKEN_LENGTH, VALID_FOR, LinkTokens

KEY = "k" * 48
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOKENS = LinkTokens(KEY)


def test_a_token_names_its_customer_in_its_workspace_until_it_expires() -> None:
    issued = TOKENS.issue(7, 42, NOW)
    assert TOKENS.customer_of(issued.token, 7, NOW) == 42
    assert NOW + VALID_FOR <= issued.expires_at <= NOW + VALID_FOR + timedelta(days=1)
    last_moment = issued.expires_at - timedelta(seconds=1)
    assert TOKENS.customer_of(issued.token, 7, last_moment) == 42
    assert TOKENS.customer_of(issued.token, 7, issued.expires_at) is None


def test_a_token_fits_a_telegram_start_parameter_for_the_largest_id() -> None:
    token = TOKENS.issue(2**63 - 1, 2**63 - 1, NOW).token
    assert len(token) <= MAX_TOKEN_LENGTH
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert TOKENS.customer_of(token, 2**63 - 1, NOW) == 2**63 - 1


def test_another_workspace_or_another_key_does_not_accept_it() -> None:
    token = TOKENS.issue(7, 42, NOW).token
    assert TOKENS.customer_of(token, 8, NOW) is None
    assert LinkTokens("o" * 48).customer_of(token, 7, NOW) is None


@pytest.mark.parametrize(
    "altered",
    [
        lambda t: t.replace("42_", "43_", 1),  # another customer, same MAC
        lambda t: re.sub(r"_(\d+)_", lambda m: f"_{int(m[1]) + 1}_", t, count=1),  # longer life
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
        lambda t: t[:-1],
        lambda t: t + "A",
        lambda t: "0" + t,
        lambda t: "",
        lambda t: "\x00" + t,
        lambda t: "٤٢" + t[2:],  # Arabic-Indic digits are not ASCII digits
    ],
)
def test_an_altered_token_names_nobody(altered: object) -> None:
    token = TOKENS.issue(7, 42, NOW).token
    assert TOKENS.customer_of(altered(token), 7, NOW) is None  # type: ignore[operator]
