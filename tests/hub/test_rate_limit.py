"""The failure limiter: budgets per address, windows that end, bounded memory."""

from __future__ import annotations

from hub.rate_limit import FailureLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_over_its_budget_is_told_when_to_come_back() -> None:
    clock = Clock()
    limiter = FailureLimiter(max_failures=3, window_seconds=60, clock=clock)
    for _ in range(2):
        limiter.record_failure("203.0.113.9")
    assert limiter.retry_after("203.0.113.9") is None
    limiter.record_failure("203.0.113.9")
    clock.now += 20.5
    assert limiter.retry_after("203.0.113.9") == 40
    assert limiter.retry_after("198.51.100.1") is None
    clock.now += 40
    assert limiter.retry_after("203.0.113.9") is None


def test_the_oldest_addresses_are_forgotten_beyond_the_bound() -> None:
    clock = Clock()
    limiter = FailureLimiter(max_failures=1, window_seconds=60, max_tracked=100, clock=clock)
    for number in range(1000):
        clock.now += 0.001
        limiter.record_failure(f"10.0.{number // 256}.{number % 256}")
    assert len(limiter._windows) == 100
    assert limiter.retry_after("10.0.0.0") is None
    assert limiter.retry_after("10.0.3.231") is not None


def test_an_unknown_address_is_neither_counted_nor_limited() -> None:
    limiter = FailureLimiter(max_failures=1)
    limiter.record_failure(None)
    assert limiter.retry_after(None) is None


def test_a_failure_past_the_budget_is_not_counted_again() -> None:
    clock = Clock()
    limiter = FailureLimiter(max_failures=2, window_seconds=60, clock=clock)
    assert [limiter.fail("192.0.2.7") for _ in range(2)] == [None, None]
    clock.now += 30
    assert limiter.fail("192.0.2.7") == 30
    clock.now += 30
    assert limiter.fail("192.0.2.7") is None, "a new window, not extended by refused requests"
