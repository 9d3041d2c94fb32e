"""Row leases: one process at a time holds a pull channel (`pull_leases`) or runs a listener
(`listener_cursors`), until its lease expires.

A lease is a row (key, holder, expires_at). `take` gets or renews it in one conditional
statement: it succeeds for the holder, or for anyone once the lease has expired, so a crashed
holder's work is taken over within one lease time. Works the same on SQLite and PostgreSQL (the
row's primary key settles two processes inserting at once). Expiry is judged by the clock of
the process asking: hosts sharing a database need synchronized clocks (NTP), with skew well
below the lease time.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Table, delete, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.models import ListenerCursor
from storage.sql import insert_ignoring_conflicts
from timeline.models import PullLease


def holder_name() -> str:
    """A name for a lease holder, unique to the process and the object that holds leases."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class Leases:
    """The leases kept in `table`, one per value of its key column `key`; with `keep_rows`,
    the rows also hold what the holder keeps (a listener's position), and a released lease
    only expires."""

    table: Table
    key: str
    keep_rows: bool = False

    async def take(
        self,
        conn: AsyncConnection,
        key: object,
        *,
        holder: str,
        duration: timedelta,
        **new_row: Any,
    ) -> bool:
        """Take or renew the lease on `key` for `duration`; False while another holds it. A
        lease taken for the first time makes its row, with `new_row`'s other columns."""
        now = datetime.now(UTC)
        renewed = await conn.execute(
            update(self.table)
            .where(self.table.c[self.key] == key)
            .where(or_(self.table.c.holder == holder, self.table.c.expires_at < now))
            .values(holder=holder, expires_at=now + duration)
        )
        if renewed.rowcount == 1:
            return True
        created = await conn.execute(
            insert_ignoring_conflicts(conn, self.table),
            {self.key: key, "holder": holder, "expires_at": now + duration, **new_row},
        )
        return created.rowcount == 1

    async def release(self, conn: AsyncConnection, key: object, *, holder: str) -> None:
        """Give the lease up (if still held), so another process takes over at once."""
        mine = (self.table.c[self.key] == key) & (self.table.c.holder == holder)
        if self.keep_rows:
            await conn.execute(
                update(self.table).where(mine).values(expires_at=datetime.fromtimestamp(0, UTC))
            )
        else:
            await conn.execute(delete(self.table).where(mine))


PULL_LEASES = Leases(PullLease.__table__, "channel_account_id")
LISTENER_LEASES = Leases(ListenerCursor.__table__, "listener", keep_rows=True)
