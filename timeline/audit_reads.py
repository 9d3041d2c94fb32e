"""Reads a workspace's audit log, newest first, filtered, a keyset page at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.models import AuditEntry

audit_log = AuditEntry.__table__


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries to read; None matches every value. `since` is inclusive, `until` not."""

    actor_user_id: int | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def list_entries(
    conn: AsyncConnection,
    workspace_id: int,
    wanted: AuditFilter,
    *,
    before_id: int | None,
    limit: int,
) -> Sequence[Row[tuple[object, ...]]]:
    """Up to `limit` entries of the workspace matching `wanted`, with ids below `before_id`
    (the previous page's last), newest first."""
    query = select(audit_log).where(audit_log.c.workspace_id == workspace_id)
    matches = {
        audit_log.c.actor_user_id: wanted.actor_user_id,
        audit_log.c.action: wanted.action,
        audit_log.c.entity_type: wanted.entity_type,
        audit_log.c.entity_id: wanted.entity_id,
    }
    for column, value in matches.items():
        if value is not None:
            query = query.where(column == value)
    if wanted.since is not None:
        query = query.where(audit_log.c.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(audit_log.c.at < wanted.until)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    return (await conn.execute(query.order_by(audit_log.c.id.desc()).limit(limit))).all()
