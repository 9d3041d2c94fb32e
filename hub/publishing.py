"""Runs a change of the core's services in a transaction that also logs the domain events it
caused, and publishes them once it has committed: how the API and the scheduler change things."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.domain import DomainEvent, LoggedEvent
from timeline.event_log import record

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)


class _Caused(Protocol):
    @property
    def events(self) -> list[DomainEvent]: ...


Result = TypeVar("Result", bound=_Caused)


@dataclass(slots=True)
class Change:
    """The transaction of one change (`conn`) and the domain events it caused so far."""

    conn: AsyncConnection
    events: list[DomainEvent] = field(default_factory=list)

    def caused(self, result: Result) -> Result:
        """Keep what a service's operation returned it caused; returns `result`."""
        self.events.extend(result.events)
        return result


@asynccontextmanager
async def change(hub: Hub) -> AsyncIterator[Change]:
    """A transaction for one change: the events given to `Change.caused` are logged as its last
    write and published once it has committed; if the block raises, it rolls back, and nothing
    is logged or published."""
    async with hub.engine.begin() as conn:
        changing = Change(conn)
        yield changing
        logged = await record(conn, changing.events)
    await publish(hub, logged)


async def publish(hub: Hub, events: Sequence[LoggedEvent]) -> None:
    """Ring the bus for committed, logged events. A failure is logged, not raised: the change
    stands, listeners catch up from the log, and stream clients on their next poll."""
    if not events:
        return
    try:
        await hub.bus.publish(list(events))
    except Exception:
        log.exception("publishing %d committed domain events failed", len(events))
