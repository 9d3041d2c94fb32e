"""When a transiently failed send is tried again: after the provider's delay, else backoff."""

from __future__ import annotations

from datetime import timedelta

from hub.sending import LONGEST_ASKED, LONGEST_RETRY, retry_delay


def test_without_a_delay_asked_for_the_backoff_doubles_up_to_its_cap() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3)] == [2, 4, 8]
    assert retry_delay(30) == LONGEST_RETRY


def test_a_delay_the_provider_asks_for_is_waited_exactly() -> None:
    assert retry_delay(1, 37.5) == timedelta(seconds=37.5)
    assert retry_delay(9, 3) == timedelta(seconds=3)
    assert retry_delay(1, -1) == timedelta(0)


def test_an_absurd_delay_is_bounded_and_a_missing_one_falls_back_to_the_backoff() -> None:
    assert retry_delay(1, 1e20) == LONGEST_ASKED
    assert retry_delay(1, float("inf")) == retry_delay(1)
    assert retry_delay(1, float("nan")) == retry_delay(1)
