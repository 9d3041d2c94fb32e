"""A mailbox reader's wait before reconnecting: doubling, capped, and defined however long the
mailbox has been away."""

from __future__ import annotations

import pytest

from channels.email.reader import ReaderSettings, reconnect_delay

SETTINGS = ReaderSettings(first_retry_seconds=1.0, longest_retry_seconds=300.0)


def test_the_wait_doubles_up_to_the_longest() -> None:
    waits = [reconnect_delay(SETTINGS, failures, auth=False) for failures in range(1, 11)]
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]


def test_a_refused_login_waits_the_longest_at_once() -> None:
    assert reconnect_delay(SETTINGS, 1, auth=True) == 300


@pytest.mark.parametrize("failures", [1_025, 1_100, 10**6])
@pytest.mark.parametrize("auth", [False, True])
def test_a_mailbox_away_for_days_still_has_a_wait(failures: int, auth: bool) -> None:
    """At the five-minute cap, 1,025 failures are three and a half days: the float of
    2**1024 overflowed, and the reader died of its own backoff."""
    assert reconnect_delay(SETTINGS, failures, auth=auth) == 300
