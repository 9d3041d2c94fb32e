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


async def open_due(conn: AsyncConnection, now: datetime, limit: int) -> list[DueConversation]:
    """Open up to `limit` snoozed conversations whose time has come, in id order.

    Sweeps in several processes may run at once: each locks the due rows nobody else holds
    and skips the others (SKIP LOCKED); a row a sweep committed meanwhile is read again as it
    is locked and is no longer snoozed. So each conversation wakes once. A conversation the
    ingest opened is not snoozed any more: its stale time is passed over. SQLite serializes
    writers instead (it renders no FOR UPDATE).
    """
    due = (
        _due(now)
        .order_by(conversations.c.snoozed_until, conversations.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        # A CTE runs once. As a subquery, PostgreSQL may scan it again for each row the UPDATE
        # visits (a semi-join), each scan locking rows past the ones before: more than `limit`.
        .cte("due")
    )
    rows = await conn.execute(
        update(conversations)
        .where(conversations.c.id.in_(select(due.c.id)))
        .values(status=ConversationStatus.OPEN, snoozed_until=None, updated_at=now)
        .returning(
            conversations.c.id,
            conversations.c.workspace_id,
            conversations.c.team_id,
            conversations.c.assignee_id,
        )
    )
    return sorted((DueConversation(*row) for row in rows), key=lambda due: due.id)
