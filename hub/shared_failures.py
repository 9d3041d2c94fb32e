"""Failure counts that every serving process shares (in Redis when the hub has it), so that a
sign-in lockout holds whichever process a guess reaches; kept in the process's memory without
Redis, or while Redis is out of reach."""

from __future__ import annotations

import logging
from typing import Protocol

import redis.asyncio as redis

from hub.crypto import KeyedHash
from hub.rate_limit import FailureLimiter

log = logging.getLogger(__name__)


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


class ProcessFailureCounts:
    """The process's own counts: what one process sees, forgotten at a restart."""

    def __init__(self, *, max_failures: int, window_seconds: float) -> None:
        self._limiter = FailureLimiter(max_failures=max_failures, window_seconds=window_seconds)

    async def retry_after(self, key: str) -> int | None:
        return self._limiter.retry_after(key)

    async def record_failure(self, key: str) -> int | None:
        self._limiter.record_failure(key)
        return self._limiter.retry_after(key)

    async def close(self) -> None:
        return None


class RedisFailureCounts:
    """Counts in Redis, one key per counted pair that expires with its window. The pair (an
    email and an address) is stored only as its keyed hash; if Redis cannot be reached the
    process counts on its own until it can again, so sign-in never fails for Redis's sake."""

    def __init__(
        self,
        redis_url: str,
        hashes: KeyedHash,
        purpose: str,
        *,
        max_failures: int,
        window_seconds: float,
    ) -> None:
        self._redis = redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self._hashes = hashes
        self._purpose = purpose
        self._max_failures = max_failures
        self._window = max(1, int(window_seconds))
        self._fallback = ProcessFailureCounts(
            max_failures=max_failures, window_seconds=window_seconds
        )

    async def retry_after(self, key: str) -> int | None:
        name = self._name(key)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                count, ttl = await pipe.get(name).ttl(name).execute()
        except (redis.RedisError, OSError) as error:
            log.warning("failure counts: Redis out of reach (%s); counting in this process", error)
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
            log.warning("failure counts: Redis out of reach (%s); counting in this process", error)
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
    hashes: KeyedHash,
    purpose: str,
    *,
    max_failures: int,
    window_seconds: float,
) -> FailureCounts:
    """Shared counts where the hub has Redis, the process's own where it has not."""
    if redis_url is None:
        return ProcessFailureCounts(max_failures=max_failures, window_seconds=window_seconds)
    return RedisFailureCounts(
        redis_url,
        hashes,
        purpose,
        max_failures=max_failures,
        window_seconds=window_seconds,
    )
