"""Writes audit log entries inside the transaction of the change they describe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.models import AuditEntry


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
    await conn.execute(
        AuditEntry.__table__.insert(),
        {
            "workspace_id": workspace_id,
            "actor_user_id": actor_user_id,
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "changes": changes or {},
            "at": datetime.now(UTC),
        },
    )
