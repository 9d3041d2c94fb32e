"""Events a listener set aside (hub.dispatch parks them): listed, and handed to it again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.dispatch import parked_error
from hub.models import ParkedEvent
from timeline.domain import Listener
from timeline.event_log import read_after

parked = ParkedEvent.__table__


@dataclass(frozen=True, slots=True)
class Parked:
    listener: str
    event_id: int
    error: str
    parked_at: datetime


@dataclass(frozen=True, slots=True)
class Replayed:
    handed: int
    """Taken by their listener: no longer parked."""
    failing: int
    """Failed again: still parked, with the new error."""


async def list_parked(conn: AsyncConnection, listener: str | None = None) -> list[Parked]:
    """The parked events, oldest first (of one listener, or of all)."""
    query = select(parked).order_by(parked.c.event_id, parked.c.listener)
    if listener is not None:
        query = query.where(parked.c.listener == listener)
    return [Parked(r.listener, r.event_id, r.error, r.parked_at) for r in await conn.execute(query)]


async def replay_parked(
    engine: AsyncEngine, listeners: Sequence[Listener], listener: str | None = None
) -> Replayed:
    """Hand each parked event, oldest first, to its listener again, each in a transaction that
    also deletes its row (listeners are idempotent: the events after it were heard already). An
    event that fails again stays parked with its new error; an event the log no longer holds,
    or a listener no longer composed, is let go."""
    by_name = {each.name: each for each in listeners}
    async with engine.connect() as conn:
        waiting = await list_parked(conn, listener)
    handed = failing = 0
    for item in waiting:
        try:
            async with engine.begin() as conn:
                await _hand_again(conn, by_name.get(item.listener), item)
        except Exception as error:
            failing += 1
            async with engine.begin() as conn:
                await conn.execute(
                    update(parked).where(*_row_of(item)).values(error=parked_error(error))
                )
        else:
            handed += 1
    return Replayed(handed, failing)


async def _hand_again(conn: AsyncConnection, listener: Listener | None, item: Parked) -> None:
    found = [e for e in await read_after(conn, item.event_id - 1, limit=1) if e.id == item.event_id]
    if listener is not None and found and found[0].type in listener.types:
        await listener.handle(conn, found)
    await conn.execute(delete(parked).where(*_row_of(item)))


def _row_of(item: Parked) -> tuple[ColumnElement[bool], ...]:
    return parked.c.listener == item.listener, parked.c.event_id == item.event_id
