"""The RQ side of the jobs facade: `switchboard worker` and the function its jobs call."""

from __future__ import annotations

import asyncio
import atexit
from typing import Any

from redis import Redis
from rq import Queue, SimpleWorker

from hub.config import Settings, load_settings
from hub.context import Hub
from hub.jobs import QUEUE_NAME
from hub.worker_listeners import ListenersThread

_loop: asyncio.AbstractEventLoop | None = None
_hub: Hub | None = None


def run_job(name: str, args: list[Any]) -> None:
    """Entry point RQ calls: run one async job on this process's long-lived loop and hub."""
    loop, hub = _process_hub()
    loop.run_until_complete(hub.job_functions[name](hub, *args))


def work(settings: Settings, *, burst: bool = False) -> None:
    """Serve jobs without forking per job (fork costs more than our jobs take), and run the
    listeners beside them."""
    assert settings.redis_url is not None
    connection = Redis.from_url(settings.redis_url)
    worker = _Worker([Queue(QUEUE_NAME, connection=connection)], connection=connection)
    listeners = ListenersThread(settings)
    listeners.start()
    try:
        worker.work(burst=burst, with_scheduler=False)
    finally:
        listeners.stop()


class _Worker(SimpleWorker):
    """RQ's SimpleWorker, whose teardown does not wait out its pub/sub thread's sleep."""

    def unsubscribe(self) -> None:
        """Stop the pub/sub thread before sending UNSUBSCRIBE, whose reply then ends it.

        RQ sends UNSUBSCRIBE first and stops the thread after. A thread that reads the reply
        before that stop is unsubscribed but still running, so it waits for a new subscription
        for as long as RQ's sleep_time (60 s); redis-py's stop() waits for the thread to end, and
        with it the worker's exit, which made `switchboard worker --burst` hang now and then.
        """
        if self.pubsub_thread is not None:
            self.pubsub_thread.stop(timeout=0)  # lower its flag now; RQ waits for it below
        super().unsubscribe()


def _process_hub() -> tuple[asyncio.AbstractEventLoop, Hub]:
    global _loop, _hub
    if _loop is None or _hub is None:
        _loop = asyncio.new_event_loop()
        _hub = Hub(load_settings(), jobs_in_process=False)
        _loop.run_until_complete(_hub.start(background=False))
        atexit.register(_shutdown)
    return _loop, _hub


def _shutdown() -> None:
    if _loop is not None and _hub is not None:
        _loop.run_until_complete(_hub.stop())
        _loop.close()
