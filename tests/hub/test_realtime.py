"""The bus in one process (hub/realtime.py): a subscription keeps a bounded number of unread
events, and past that says it missed some instead of growing."""

from __future__ import annotations

from datetime import UTC, datetime

from hub.realtime import LocalBus
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
