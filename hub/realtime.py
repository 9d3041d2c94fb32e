"""Fans domain events out to subscribers: in-process, or across processes through Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import redis.asyncio as redis

from timeline.domain import DomainEvent

log = logging.getLogger(__name__)
CHANNEL = "switchboard:domain-events"


class LocalBus:
    """Delivers published events to every subscriber queue in this process."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[DomainEvent]] = set()

    async def subscribe(self, maxsize: int = 1000) -> asyncio.Queue[DomainEvent]:
        """A queue that receives every event published from now on (the oldest dropped when
        it holds `maxsize` unread)."""
        queue: asyncio.Queue[DomainEvent] = asyncio.Queue(maxsize)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[DomainEvent]) -> None:
        self._subscribers.discard(queue)

    def deliver(self, events: list[DomainEvent]) -> None:
        for queue in list(self._subscribers):
            for event in events:
                if queue.full():
                    log.warning("a realtime subscriber is too slow; dropping its oldest event")
                    queue.get_nowait()
                queue.put_nowait(event)

    async def publish(self, events: list[DomainEvent]) -> None:
        self.deliver(events)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class RedisBus(LocalBus):
    """Publishes through Redis so subscribers in every hub process see every event.

    A process listens on the Redis channel only while it has subscribers: every process's
    events would otherwise arrive in every other process to be read for nothing (the ingest
    publishes each batch's events).
    """

    def __init__(self, redis_url: str, channel: str = CHANNEL) -> None:
        super().__init__()
        self._redis = redis.from_url(redis_url)
        # Pub/sub channels ignore Redis database numbers: hubs sharing a server need their own.
        self._channel = channel
        self._listener: asyncio.Task[None] | None = None
        self._starting_listener = asyncio.Lock()

    async def publish(self, events: list[DomainEvent]) -> None:
        payload = json.dumps(
            [{"workspace_id": e.workspace_id, "type": e.type, "data": e.data} for e in events]
        )
        await self._redis.publish(self._channel, payload)

    async def subscribe(self, maxsize: int = 1000) -> asyncio.Queue[DomainEvent]:
        """As LocalBus.subscribe, for events from every process; returns once this process's
        SUBSCRIBE has been sent to Redis."""
        queue = await super().subscribe(maxsize)
        async with self._starting_listener:
            if self._listener is None:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._channel)
                self._listener = asyncio.create_task(self._listen(pubsub))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[DomainEvent]) -> None:
        super().unsubscribe(queue)
        if not self._subscribers and self._listener is not None:
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
                    self.deliver([DomainEvent(**item) for item in json.loads(message["data"])])
