"""A call held until the test lets it go: it shows that work runs off the event loop, since on
the loop's thread the test itself could not run to let it go, and the hold would run out."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

HELD_SECONDS = 5


class HeldCall:
    """Wraps `function`: its first call waits (at most HELD_SECONDS) for `release()`, and
    `outcomes` records whether the release came in time; later calls go straight through."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self._function = function
        self._reached = threading.Event()
        self._released = threading.Event()
        self.outcomes: list[bool] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._reached.is_set():
            self._reached.set()
            self.outcomes.append(self._released.wait(HELD_SECONDS))
        return self._function(*args, **kwargs)

    async def reached(self) -> bool:
        """Whether the first call began within HELD_SECONDS (waited for off the loop)."""
        return await asyncio.to_thread(self._reached.wait, HELD_SECONDS)

    def release(self) -> None:
        self._released.set()
