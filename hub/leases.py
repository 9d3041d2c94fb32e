"""Row leases on pull channels: one process holds a channel's lease at a time, until it expires.

A lease is a `pull_leases` row (channel, holder, expires_at). `take` gets or renews it in one
conditional statement: it succeeds for the holder, or for anyone once the lease has expired,
so a crashed holder's channel is taken over within one lease time. Works the same on SQLite
and PostgreSQL (the row's primary key settles two processes inserting at once). Expiry is
judged by the clock of the process asking: hosts sharing a database need synchronized clocks
(NTP), with skew well below the lease time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sql import insert_ignoring_conflicts
from timeline.models import PullLease

leases = PullLease.__table__


async def take(
    conn: AsyncConnection,
    *,
    channel_account_id: int,
    workspace_id: int,
    holder: str,
    duration: timedelta,
) -> bool:
    """Take or renew the channel's lease for `duration`; False while another holds it."""
    now = datetime.now(UTC)
    renewed = await conn.execute(
        update(leases)
        .where(leases.c.channel_account_id == channel_account_id)
        .where(or_(leases.c.holder == holder, leases.c.expires_at < now))
        .values(holder=holder, expires_at=now + duration)
    )
    if renewed.rowcount == 1:
        return True
    created = await conn.execute(
        insert_ignoring_conflicts(conn, leases),
        {
            "channel_account_id": channel_account_id,
            "workspace_id": workspace_id,
            "holder": holder,
            "expires_at": now + duration,
        },
    )
    return created.rowcount == 1


async def release(conn: AsyncConnection, *, channel_account_id: int, holder: str) -> None:
    """Give the lease up (if still held), so another process takes over at once."""
    await conn.execute(
        delete(leases)
        .where(leases.c.channel_account_id == channel_account_id)
        .where(leases.c.holder == holder)
    )
