"""One facade for background jobs: RQ workers when Redis is configured, in-process otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)

QUEUE_NAME = "switchboard"
JobFunction = Callable[..., Awaitable[None]]
"""An async function taking the Hub first, then the job's JSON-serializable arguments."""


class JobQueue(Protocol):
    async def enqueue(self, name: str, *args: Any) -> None: ...

    async def start(self, hub: Hub) -> None: ...

    async def stop(self) -> None: ...


class InProcessJobs:
    """Runs jobs on this process's event loop with a few concurrent runners (embedded default)."""

    def __init__(
        self, functions: dict[str, JobFunction], runners: int = 4, grace_seconds: float = 10.0
    ) -> None:
        self._functions = functions
        self._queue: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue()
        self._runners = runners
        self._grace_seconds = grace_seconds
        self._tasks: list[asyncio.Task[None]] = []
        self._busy: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self._hub: Hub | None = None

    async def enqueue(self, name: str, *args: Any) -> None:
        if name not in self._functions:
            raise KeyError(f"unknown job {name!r}")
        self._queue.put_nowait((name, args))

    async def start(self, hub: Hub) -> None:
        self._hub = hub
        self._stopping = False
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self._runners)]

    async def stop(self) -> None:
        """Let jobs under way finish (for up to `grace_seconds`), then stop the runners.

        A job cut off mid-transaction would leave its connection to the garbage collector.
        Jobs still queued are not run: what they were for is a due row in the database (an
        outbound message's next attempt), and the scheduler enqueues it again after a restart.
        """
        self._stopping = True
        busy = [task for task in self._tasks if task in self._busy]
        for task in self._tasks:
            if task not in self._busy:
                task.cancel()
        if busy:
            _, late = await asyncio.wait(busy, timeout=self._grace_seconds)
            for task in late:
                log.warning(
                    "in-process job still running after %.0f s; cancelled", self._grace_seconds
                )
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _run(self) -> None:
        assert self._hub is not None
        current = asyncio.current_task()
        assert current is not None
        while not self._stopping:
            name, args = await self._queue.get()
            self._busy.add(current)
            try:
                await self._functions[name](self._hub, *args)
            except Exception:
                log.exception("job %s%r failed", name, args)
            finally:
                self._busy.discard(current)
                self._queue.task_done()


async def enqueue_committed(jobs: JobQueue, name: str, *args: Any) -> None:
    """Enqueue a job for work already committed as a due row (an outbound message): a queue out
    of reach (Redis away) is logged, not raised. The scheduler enqueues every due row again
    from the database, so the request that committed the work stands; raising here answered
    500 for a reply that was stored and would be sent, and a client retrying it sent it twice."""
    from redis.exceptions import RedisError

    try:
        await jobs.enqueue(name, *args)
    except (RedisError, OSError) as error:
        log.warning("job %s%r not enqueued (%s); the scheduler will enqueue it", name, args, error)


class RqJobs:
    """Enqueues jobs for `switchboard worker` processes through RQ on Redis."""

    def __init__(self, redis_url: str, functions: dict[str, JobFunction]) -> None:
        from redis import Redis
        from rq import Queue

        self._functions = functions
        self._queue = Queue(QUEUE_NAME, connection=Redis.from_url(redis_url))

    async def enqueue(self, name: str, *args: Any) -> None:
        if name not in self._functions:
            raise KeyError(f"unknown job {name!r}")
        await asyncio.to_thread(
            self._queue.enqueue, "hub.worker.run_job", name, list(args), failure_ttl=7 * 86400
        )

    async def start(self, hub: Hub) -> None:
        return None

    async def stop(self) -> None:
        self._queue.connection.close()
