"""Waiting until PostgreSQL shows a session waiting for a lock: a fixed pause would not say
whether a slow machine had sent the statement yet."""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def until_a_session_waits_for_a_lock(
    engine: AsyncEngine, locktype: str | None = None
) -> None:
    """Until some session waits for a lock (of `locktype`, if given), within 10 s."""
    query = "SELECT count(*) FROM pg_locks WHERE NOT granted" + (
        " AND locktype = :locktype" if locktype else ""
    )
    async with engine.connect() as conn:
        for _ in range(500):
            if await conn.scalar(text(query), {"locktype": locktype}):
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"no session waited for a lock ({locktype or 'any type'})")
