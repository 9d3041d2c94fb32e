"""Tells subscribers of logged domain events as they commit: in-process, or across processes
through Redis pub/sub.

The bus is a doorbell, the log (`timeline/event_log.py`) the letters: a subscriber learns
promptly that events committed, and what they were, but whatever it cannot keep up with it
reads back from the log by position, so a slow subscriber costs a bounded amount of memory and
loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from datetime import datetime
from typing import Any

import redis.asyncio as redis

from storage.json_text import json_text
from timeline.domain import LoggedEvent

CHANNEL = "switchboard:domain-events"


class Subscription:
    """The events published since it was made, up to `maxsize` unread; past that it drops them
    and says so instead, once, and its reader reads the log from its own position."""

    def __init__(self, maxsize: int) -> None:
        self._events: deque[LoggedEvent] = deque()
        self._maxsize = maxsize
        self._overflowed = False
        self._ready = asyncio.Event()

    def deliver(self, events: list[LoggedEvent]) -> None:
        if not self._overflowed:
            if len(self._events) + len(events) > self._maxsize:
                self._overflowed = True
                self._events.clear()
            else:
                self._events.extend(events)
        self._ready.set()

    async def next(self) -> list[LoggedEvent] | None:
        """Waits for a publish; every event published since the last call, or None if more
        arrived than it keeps (read the log instead)."""
        await self._ready.wait()
        self._ready.clear()
        events = None if self._overflowed else list(self._events)
        self._events.clear()
        self._overflowed = False
        return events


class LocalBus:
    """Delivers published events to every subscription in this process."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    async def subscribe(self, maxsize: int = 1000) -> Subscription:
        """A subscription to every event published from now on."""
        subscription = Subscription(maxsize)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def deliver(self, events: list[LoggedEvent]) -> None:
        for subscription in list(self._subscriptions):
            subscription.deliver(events)

    async def publish(self, events: list[LoggedEvent]) -> None:
        self.deliver(events)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisBus(LocalBus):
    """Publishes through Redis so subscribers in every hub process see every event.

    A process listens on the Redis channel only while it has subscribers: every process's
    events would otherwise arrive in every other process to be read for nothing (the ingest
    publishes each batch's events). Pub/sub channels ignore Redis database numbers, so the
    channel's name carries the number: hubs sharing a server on databases of their own stay
    apart.
    """

    def __init__(self, redis_url: str, channel: str | None = None) -> None:
        super().__init__()
        self._redis = redis.from_url(redis_url)
        database = self._redis.connection_pool.connection_kwargs.get("db", 0)
        self._channel = channel or f"{CHANNEL}:{database}"
        self._listener: asyncio.Task[None] | None = None
        self._starting_listener = asyncio.Lock()

    async def publish(self, events: list[LoggedEvent]) -> None:
        await self._redis.publish(self._channel, json_text([_as_json(e) for e in events]))

    async def subscribe(self, maxsize: int = 1000) -> Subscription:
        """As LocalBus.subscribe, for events from every process; returns once this process's
        SUBSCRIBE has been sent to Redis."""
        subscription = await super().subscribe(maxsize)
        try:
            async with self._starting_listener:
                if self._listener is None:
                    pubsub = self._redis.pubsub()
                    await pubsub.subscribe(self._channel)
                    self._listener = asyncio.create_task(self._listen(pubsub))
        except BaseException:
            # Redis away: nobody holds this subscription to end it, and it would fill.
            super().unsubscribe(subscription)
            raise
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        super().unsubscribe(subscription)
        if not self._subscriptions and self._listener is not None:
            self._listener.cancel()
            self._listener = None

    async def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        await self._redis.aclose()

    async def _listen(self, pubsub: redis.client.PubSub) -> None:
        async with pubsub:
            async for message in pubsub.listen():
                if message["type"] == "message":
                    self.deliver([_from_json(item) for item in json.loads(message["data"])])


def _as_json(event: LoggedEvent) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies the data, on every event the ingest publishes.
    return {
        "id": event.id,
        "workspace_id": event.workspace_id,
        "type": event.type,
        "data": event.data,
        "logged_at": event.logged_at.isoformat(),
    }


def _from_json(item: dict[str, Any]) -> LoggedEvent:
    return LoggedEvent(**{**item, "logged_at": datetime.fromisoformat(item["logged_at"])})
