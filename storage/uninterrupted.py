"""Database work that a cancel does not cut short: it runs to its end, then the cancel goes on.

A task cancelled inside a transaction (a pull reader whose channel changed, a listener as the
hub stops) makes SQLAlchemy abandon the connection. On SQLite the abandoned connection keeps
its write lock until the garbage collector frees it, and every other write waits on it meanwhile
(the busy timeout, 30 s, and again). Finishing the work first, a few milliseconds, avoids that
on every database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def to_the_end(work: Coroutine[Any, Any, T]) -> T:
    """`work`'s result. Cancelled meanwhile, the work is finished first (its outcome, if it
    fails, goes to asyncio's handler) and then the cancel is raised."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise
