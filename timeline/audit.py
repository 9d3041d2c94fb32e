"""Writes audit log entries inside the transaction of the change they describe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.models import AuditEntry

audit_log = AuditEntry.__table__


@dataclass(frozen=True, slots=True)
class Audited:
    """One change to record: who made it (None: the hub itself), what, to which entity."""

    workspace_id: int
    actor_user_id: int | None
    action: str
    entity_type: str
    entity_id: int | str
    changes: dict[str, Any] = field(default_factory=dict)


async def record(
    conn: AsyncConnection,
    *,
    workspace_id: int,
    actor_user_id: int | None,
    action: str,
    entity_type: str,
    entity_id: int | str,
    changes: dict[str, Any] | None = None,
) -> None:
    await record_all(
        conn,
        [Audited(workspace_id, actor_user_id, action, entity_type, entity_id, changes or {})],
    )


async def record_all(conn: AsyncConnection, entries: Sequence[Audited]) -> None:
    """Several changes in one statement (a sweep's, say)."""
    if not entries:
        return
    at = datetime.now(UTC)
    await conn.execute(
        audit_log.insert(),
        [
            {
                "workspace_id": entry.workspace_id,
                "actor_user_id": entry.actor_user_id,
                "action": entry.action,
                "entity_type": entry.entity_type,
                "entity_id": str(entry.entity_id),
                "changes": entry.changes,
                "at": at,
            }
            for entry in entries
        ],
    )
