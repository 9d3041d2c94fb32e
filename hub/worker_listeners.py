"""Runs the listeners beside `switchboard worker`: RQ's loop blocks its thread, so the
dispatcher gets a thread and an event loop of its own, with its own engine and bus."""

from __future__ import annotations

import asyncio
import threading

from hub.config import Settings
from hub.db import create_engine
from hub.dispatch import Dispatcher
from hub.listeners import LISTENERS
from hub.realtime import RedisBus


class ListenersThread:
    """Started before the worker works, stopped after: the listeners whose leases this
    process takes run here."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url is not None
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="listeners", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        self._loop.run_until_complete(self._dispatch())
        self._loop.close()

    async def _dispatch(self) -> None:
        assert self._settings.redis_url is not None
        engine = create_engine(self._settings.database_url)
        bus = RedisBus(self._settings.redis_url)
        dispatcher = Dispatcher(engine, bus, LISTENERS)
        try:
            await dispatcher.start()
            await self._stopping.wait()
        finally:
            await dispatcher.stop()
            await bus.stop()
            await engine.dispose()
