"""Counts failed authentications per client address, to answer 429 once an address exceeds
its budget; bounded in memory, keeping nothing but the address and a count."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Window:
    started: float
    failures: int


class FailureLimiter:
    """At most `max_failures` failures per address in a fixed window of `window_seconds`.

    Only failures are counted, and only failures are limited: a caller whose credentials are
    right (a valid token, a correctly signed webhook) is never refused here, whatever its
    address has done. At most `max_tracked` addresses are remembered; beyond that the one
    whose window started longest ago is forgotten, so a flood of spoofed or rotating addresses
    cannot grow the process.
    """

    def __init__(
        self,
        *,
        max_failures: int = 20,
        window_seconds: float = 60.0,
        max_tracked: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_failures = max_failures
        self._window = window_seconds
        self._max_tracked = max_tracked
        self._clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()

    def fail(self, address: str | None) -> int | None:
        """Count one failure from `address`; or, if it is past its budget already, count
        nothing and return the whole seconds until it may fail again."""
        wait = self.retry_after(address)
        if wait is None:
            self.record_failure(address)
        return wait

    def record_failure(self, address: str | None) -> None:
        """Count one failed attempt from `address` (None: an address unknown, not counted)."""
        if address is None:
            return
        now = self._clock()
        window = self._current(address, now)
        if window is None:
            self._windows[address] = _Window(now, 1)
            while len(self._windows) > self._max_tracked:
                self._windows.popitem(last=False)
        else:
            window.failures += 1

    def retry_after(self, address: str | None) -> int | None:
        """Whole seconds until `address` may fail again, or None while it is within budget."""
        if address is None:
            return None
        now = self._clock()
        window = self._current(address, now)
        if window is None or window.failures < self._max_failures:
            return None
        return max(1, math.ceil(window.started + self._window - now))

    def _current(self, address: str, now: float) -> _Window | None:
        window = self._windows.get(address)
        if window is not None and now - window.started >= self._window:
            del self._windows[address]
            return None
        return window
