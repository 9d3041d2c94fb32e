"""Cancels database work at points spread over the time it takes, one run of the work for each
point, and checks after each that the cancel left every connection in the pool and ended soon."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

POINTS = 150
"""Runs cancelled, each a little later than the one before: from at once to past the time an
uncancelled run takes."""
ENDS_WITHIN_SECONDS = 10
"""A cancelled run's end. A connection abandoned with SQLite's write lock stalled the next
writes for good: the garbage collector, which would free it after a while, is off meanwhile."""


async def cancel_throughout(
    engine: AsyncEngine,
    run: Callable[[int], Coroutine[Any, Any, object]],
    check: Callable[[int], Awaitable[None]],
) -> None:
    """Time `run(0)` uncancelled, then cancel `run(1)` ... `run(POINTS)` ever later, awaiting
    `check(point)` after each run; fails on a run that does not end, a connection left out of the
    pool or one that was lost."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    await run(0)
    takes = loop.time() - started
    await check(0)
    gc.disable()
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for point in range(1, POINTS + 1):
                task = asyncio.create_task(run(point))
                await asyncio.sleep(1.5 * takes * (point - 1) / POINTS)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    async with asyncio.timeout(ENDS_WITHIN_SECONDS):
                        await task
                assert engine.pool.checkedout() == 0, f"a connection is out after point {point}"  # type: ignore[attr-defined]
                await check(point)
    finally:
        gc.enable()
    lost = [w for w in seen if "non-checked-in connection" in str(w.message)]
    assert not lost, "a connection was lost and only found again when it was freed"
