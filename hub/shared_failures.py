"""Failure counts that every serving process shares, so that a sign-in lockout holds whichever
process a guess reaches: in Redis when the hub has it, else in the hub's database (and there
too while Redis is out of reach)."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis.asyncio as redis
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.crypto import KeyedHash
from hub.models import FailureCount
from storage.sql import insert_or_add

log = logging.getLogger(__name__)
counts = FailureCount.__table__


class FailureCounts(Protocol):
    """Failures per key in a fixed window; a key past its budget waits out the window."""

    async def retry_after(self, key: str) -> int | None:
        """Whole seconds until `key` may fail again, or None while it is within budget."""
        ...

    async def record_failure(self, key: str) -> int | None:
        """Count one failure of `key`; then, as `retry_after`, the whole seconds it must wait
        now (None: still within budget)."""
        ...

    async def close(self) -> None: ...


class DatabaseFailureCounts:
    """Counts in the hub's database, one row per counted pair named by its keyed hash: shared
    by every process, kept across restarts; a row whose window has passed is deleted by the
    next failure counted."""

    def __init__(
        self,
        engine: AsyncEngine,
        hashes: KeyedHash,
        purpose: str,
        *,
        max_failures: int,
        window_seconds: float,
    ) -> None:
        self._engine = engine
        self._hashes = hashes
        self._purpose = purpose
        self._max_failures = max_failures
        self._window = timedelta(seconds=window_seconds)

    async def retry_after(self, key: str) -> int | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(counts.c.failures, counts.c.window_ends).where(
                        counts.c.name == self._name(key)
                    )
                )
            ).first()
        return None if row is None else self._wait(row.failures, row.window_ends)

    async def record_failure(self, key: str) -> int | None:
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await conn.execute(delete(counts).where(counts.c.window_ends <= now))
            row = (
                await conn.execute(
                    insert_or_add(conn, counts, "failures"),
                    {"name": self._name(key), "failures": 1, "window_ends": now + self._window},
                )
            ).one()
        return self._wait(row.failures, row.window_ends)

    def _wait(self, failures: int, window_ends: datetime) -> int | None:
        left = (window_ends - datetime.now(UTC)).total_seconds()
        if failures < self._max_failures or left <= 0:
            return None
        return max(1, math.ceil(left))

    async def close(self) -> None:
        return None

    def _name(self, key: str) -> str:
        return f"{self._purpose}:{self._hashes.digest(self._purpose, key)}"


class RedisFailureCounts:
    """Counts in Redis, one key per counted pair that expires with its window. The pair (an
    email and an address) is stored only as its keyed hash; while Redis cannot be reached,
    `fallback` counts, so sign-in never fails for Redis's sake."""

    def __init__(
        self,
        redis_url: str,
        hashes: KeyedHash,
        purpose: str,
        fallback: FailureCounts,
        *,
        max_failures: int,
        window_seconds: float,
    ) -> None:
        self._redis = redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._hashes = hashes
        self._purpose = purpose
        self._max_failures = max_failures
        self._window = max(1, int(window_seconds))
        self._fallback = fallback

    async def retry_after(self, key: str) -> int | None:
        name = self._name(key)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                count, ttl = await pipe.get(name).ttl(name).execute()
        except (redis.RedisError, OSError) as error:
            log.warning("failure counts: Redis out of reach (%s); counting in the database", error)
            return await self._fallback.retry_after(key)
        return self._wait(count, ttl)

    async def record_failure(self, key: str) -> int | None:
        name = self._name(key)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                _, count, ttl = (
                    await pipe.set(name, 0, ex=self._window, nx=True).incr(name).ttl(name).execute()
                )
        except (redis.RedisError, OSError) as error:
            log.warning("failure counts: Redis out of reach (%s); counting in the database", error)
            return await self._fallback.record_failure(key)
        return self._wait(count, ttl)

    def _wait(self, count: bytes | int | None, ttl: int) -> int | None:
        if count is None or int(count) < self._max_failures:
            return None
        return max(1, ttl if ttl > 0 else self._window)

    async def close(self) -> None:
        await self._redis.aclose()

    def _name(self, key: str) -> str:
        return f"switchboard:failures:{self._purpose}:{self._hashes.digest(self._purpose, key)}"


def failure_counts(
    redis_url: str | None,
    engine: AsyncEngine,
    hashes: KeyedHash,
    purpose: str,
    *,
    max_failures: int,
    window_seconds: float,
) -> FailureCounts:
    """Counts in Redis where the hub has it, else in its database."""
    in_database = DatabaseFailureCounts(
        engine, hashes, purpose, max_failures=max_failures, window_seconds=window_seconds
    )
    if redis_url is None:
        return in_database
    return RedisFailureCounts(
        redis_url,
        hashes,
        purpose,
        in_database,
        max_failures=max_failures,
        window_seconds=window_seconds,
    )
