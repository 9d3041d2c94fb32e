"""Keeps payloads that failed to parse, with the reason, until an admin replays them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline import audit
from timeline.events import RawPayload
from timeline.models import QuarantinedPayload
from timeline.storable import storable_text

quarantine = QuarantinedPayload.__table__


@dataclass(frozen=True, slots=True)
class QuarantinedItem:
    id: int
    workspace_id: int
    channel_account_id: int
    content_type: str
    body: bytes
    error: str
    received_at: datetime
    replayed_at: datetime | None
    replay_error: str | None

    @property
    def raw(self) -> RawPayload:
        return RawPayload(content_type=self.content_type, body=self.body)


async def quarantine_payload(
    conn: AsyncConnection, workspace_id: int, channel_account_id: int, raw: RawPayload, error: str
) -> int:
    """Keep the payload's bytes as they came, with why it could not be taken in; the reason
    (which may quote the payload, or the database's refusal of it) is made storable."""
    result = await conn.execute(
        quarantine.insert().returning(quarantine.c.id),
        {
            "workspace_id": workspace_id,
            "channel_account_id": channel_account_id,
            "content_type": raw.content_type,
            "body": raw.body,
            "error": storable_text(error),
            "received_at": datetime.now(UTC),
        },
    )
    return result.scalar_one()


async def list_quarantined(
    conn: AsyncConnection, *, include_replayed: bool = False, after_id: int = 0, limit: int = 100
) -> list[QuarantinedItem]:
    query = (
        select(quarantine).where(quarantine.c.id > after_id).order_by(quarantine.c.id).limit(limit)
    )
    if not include_replayed:
        query = query.where(quarantine.c.replayed_at.is_(None))
    return [QuarantinedItem(**row._mapping) for row in await conn.execute(query)]


async def mark_replayed(conn: AsyncConnection, item: QuarantinedItem, error: str | None) -> None:
    """Note a replay's outcome (`error` None: it went through), in the audit log too."""
    values: dict[str, object] = {"replay_error": error}
    if error is None:
        values["replayed_at"] = datetime.now(UTC)
    await conn.execute(update(quarantine).where(quarantine.c.id == item.id).values(**values))
    await audit.record(
        conn,
        workspace_id=item.workspace_id,
        actor_user_id=None,
        action="quarantine.replayed",
        entity_type="quarantined_payload",
        entity_id=item.id,
        changes={"channel_account_id": item.channel_account_id, "error": error},
    )
