"""Snoozed conversations: when one may wake, and claiming those due, once however many sweep."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.errors import Invalid
from timeline.models import Conversation, ConversationStatus

conversations = Conversation.__table__


def wake_time(until: datetime, now: datetime) -> datetime:
    """`until` in UTC; Invalid unless it names its offset and lies in the future."""
    if until.utcoffset() is None:
        raise Invalid({"until": "needs its offset from UTC (Z for UTC itself)"})
    try:
        at = until.astimezone(UTC)
    except OverflowError:
        raise Invalid({"until": "beyond the last representable moment"}) from None
    if at <= now:
        raise Invalid({"until": "must lie in the future"})
    return at


def _due(now: datetime) -> Select[tuple[int]]:
    return (
        select(conversations.c.id)
        .where(conversations.c.status == ConversationStatus.SNOOZED)
        .where(conversations.c.snoozed_until <= now)
    )


async def any_due(conn: AsyncConnection) -> bool:
    """Whether a snoozed conversation's time has come: a read, so that sweeps finding nothing
    (most of them) take no write lock."""
    return (await conn.execute(_due(datetime.now(UTC)).limit(1))).first() is not None


@dataclass(frozen=True, slots=True)
class DueConversation:
    id: int
    workspace_id: int
    team_id: int | None
    assignee_id: int | None
    snoozed_until: datetime
    """The time it was snoozed until, which waking it clears."""


async def open_due(conn: AsyncConnection, now: datetime, limit: int) -> list[DueConversation]:
    """Open up to `limit` snoozed conversations whose time has come, in id order.

    Sweeps in several processes may run at once: each locks the due rows nobody else holds
    and skips the others (SKIP LOCKED); a row a sweep committed meanwhile is read again as it
    is locked and is no longer snoozed. So each conversation wakes once. A conversation the
    ingest opened is not snoozed any more: its stale time is passed over. SQLite renders no
    FOR UPDATE: there the update wakes only what is still snoozed when its turn to write comes.

    The rows are read before they are changed, for the snooze time waking clears: an UPDATE's
    RETURNING gives the new one, and SQLite's may not name another table's columns.
    """
    rows = await conn.execute(
        _due(now)
        .add_columns(
            conversations.c.workspace_id,
            conversations.c.team_id,
            conversations.c.assignee_id,
            conversations.c.snoozed_until,
        )
        .order_by(conversations.c.snoozed_until, conversations.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    due = {row.id: DueConversation(*row) for row in rows}
    if not due:
        return []
    woken = await conn.execute(
        update(conversations)
        .where(conversations.c.id.in_(list(due)))
        # What another process's sweep woke since the read above (SQLite: no row locks).
        .where(conversations.c.status == ConversationStatus.SNOOZED)
        .values(status=ConversationStatus.OPEN, snoozed_until=None, updated_at=now)
        .returning(conversations.c.id)
    )
    return [due[conversation_id] for conversation_id in sorted(woken.scalars())]
