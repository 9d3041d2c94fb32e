"""Waiting for something within a time limit, where cancelling the waiter always cancels it.

On Python 3.11, asyncio.wait_for returns the result instead of raising CancelledError when
the awaited thing finishes in the same loop turn as the cancel (CPython gh-86296), so a loop
stopped by cancelling it, woken at that moment, never stopped: a hung shutdown. asyncio.timeout
tells its own cancel from the caller's and never swallows the caller's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


async def finished_within(seconds: float, awaitable: Awaitable[object]) -> bool:
    """Whether the awaitable finished within the seconds; a cancel of the caller propagates."""
    try:
        async with asyncio.timeout(seconds):
            await awaitable
    except TimeoutError:
        return False
    return True
