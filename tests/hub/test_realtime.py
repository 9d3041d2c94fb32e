"""The bus (hub/realtime.py): a subscription keeps a bounded number of unread events, and past
that says it missed some instead of growing; one Redis did not take is not kept, and the live
stream's handshake then answers 503."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from aiohttp import WSServerHandshakeError
from redis.exceptions import ConnectionError as RedisConnectionError

from hub.realtime import LocalBus, RedisBus
from tests.conftest import HubAndClient, bearer, free_port
from tests.workspace import seed_workspace
from timeline.domain import LoggedEvent

AT = datetime(2026, 12, 7, tzinfo=UTC)


def _event(number: int) -> LoggedEvent:
    return LoggedEvent(number, 1, "conversation.resolved", {"conversation_id": number}, AT)


async def test_a_subscription_that_falls_behind_is_told_to_read_the_log() -> None:
    bus = LocalBus()
    slow, other = await bus.subscribe(maxsize=2), await bus.subscribe(maxsize=10)
    await bus.publish([_event(1), _event(2)])
    await bus.publish([_event(3)])
    assert await slow.next() is None  # three unread, two kept: read the log instead
    assert await other.next() == [_event(1), _event(2), _event(3)]
    await bus.publish([_event(4)])
    assert await slow.next() == [_event(4)]
    bus.unsubscribe(slow)
    await bus.publish([_event(5)])
    assert await other.next() == [_event(4), _event(5)]


async def test_a_subscription_redis_did_not_take_is_not_kept() -> None:
    """With Redis away, each live stream's handshake left its subscription behind, filling
    with every event the process published until the queue was full, for good."""
    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0")
    try:
        for _ in range(3):
            with pytest.raises(RedisConnectionError):
                await bus.subscribe()
        assert bus._subscriptions == set()  # what deliver() would fill
    finally:
        await bus.stop()


async def test_the_stream_handshake_with_redis_away_is_503(
    hub_and_client: HubAndClient,
) -> None:
    hub, client = await hub_and_client(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    ws = await seed_workspace(hub)
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/v1/stream", headers=bearer(ws.token))
    assert refused.value.status == 503
    assert refused.value.headers is not None and int(refused.value.headers["Retry-After"]) >= 1
