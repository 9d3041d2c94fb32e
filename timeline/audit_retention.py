"""Removes audit entries older than the retention period, oldest first, so that what is kept
still verifies: each chain then starts at its oldest kept entry's stored previous hash."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.models import AuditEntry

audit_log = AuditEntry.__table__


async def expire_entries(conn: AsyncConnection, older_than: datetime, *, limit: int) -> int:
    """Delete up to `limit` entries, in id order, up to the newest one written before
    `older_than`; how many went.

    By id, not by time alone: every chain loses a prefix and keeps no hole, even if the clock
    stepped back between two entries."""
    newest_expired = (
        await conn.execute(select(func.max(audit_log.c.id)).where(audit_log.c.at < older_than))
    ).scalar_one_or_none()
    if newest_expired is None:
        return 0
    oldest_first = (
        select(audit_log.c.id)
        .where(audit_log.c.id <= newest_expired)
        .order_by(audit_log.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":  # the append-only trigger lets the expiry through
        await conn.execute(text("SET LOCAL switchboard.audit_expiry = 'on'"))
    result = await conn.execute(delete(audit_log).where(audit_log.c.id.in_(oldest_first)))
    return result.rowcount
