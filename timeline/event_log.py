"""The domain-event log: events recorded in the transaction of the change that caused them
(so nobody hears of a change a rollback undid, nor misses a committed one), read back in order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import RowsInsert, append_rows
from timeline.domain import DomainEvent, LoggedEvent
from timeline.models import LoggedDomainEvent

log_table = LoggedDomainEvent.__table__


def log_rows(events: Sequence[DomainEvent], now: datetime) -> RowsInsert:
    """The log's rows for `events`, logged at `now`: for `storage.bulk.append_rows`, or for
    `insert_together(..., appending=...)` to log them in a batch's own last statement."""
    return RowsInsert(
        log_table,
        [
            {"workspace_id": e.workspace_id, "type": e.type, "data": e.data, "logged_at": now}
            for e in events
        ],
    )


def as_logged(
    events: Sequence[DomainEvent], ids: Sequence[int], now: datetime
) -> list[LoggedEvent]:
    """`events` as logged at `now` with the ids the log gave them."""
    return [
        LoggedEvent(event_id, e.workspace_id, e.type, e.data, now)
        for event_id, e in zip(ids, events, strict=True)
    ]


async def record(conn: AsyncConnection, events: Sequence[DomainEvent]) -> list[LoggedEvent]:
    """Log `events` in the caller's transaction, as its last write: until it ends, other
    writers of the log wait (`storage.bulk.append_rows`)."""
    if not events:
        return []
    now = datetime.now(UTC)
    ids = await append_rows(conn, log_table, log_rows(events, now).rows)
    return as_logged(events, ids, now)


async def read_after(
    conn: AsyncConnection, position: int, *, limit: int, workspace_id: int | None = None
) -> list[LoggedEvent]:
    """The logged events after `position` (an event id; 0 for the start), oldest first, of one
    workspace or of all."""
    query = select(log_table).where(log_table.c.id > position).order_by(log_table.c.id).limit(limit)
    if workspace_id is not None:
        query = query.where(log_table.c.workspace_id == workspace_id)
    return [
        LoggedEvent(row.id, row.workspace_id, row.type, row.data, row.logged_at)
        for row in await conn.execute(query)
    ]


async def last_position(conn: AsyncConnection) -> int:
    """The id of the newest logged event; 0 while the log is empty."""
    newest = await conn.scalar(select(log_table.c.id).order_by(log_table.c.id.desc()).limit(1))
    return newest or 0
