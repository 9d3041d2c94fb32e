"""Delivery receipts: record every status a provider reports and move messages only forward."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sql import insert_ignoring_conflicts
from timeline.events import DeliveryStatus, MessageStatusChanged
from timeline.models import DeliveryReceipt, OutboundMessage

receipts = DeliveryReceipt.__table__
outbound = OutboundMessage.__table__


async def record_receipts(
    conn: AsyncConnection, events: list[tuple[int, MessageStatusChanged]]
) -> int:
    """Store each receipt once (a replayed status adds nothing), then apply it to its message
    if we already know the message (applying a status twice changes nothing either)."""
    if not events:
        return 0
    await conn.execute(
        insert_ignoring_conflicts(conn, receipts),
        [
            {
                "workspace_id": workspace_id,
                "channel_account_id": event.channel_account_id,
                "external_id": event.external_id,
                "status": event.status,
                "error": _error_text(event),
                "raw_ref": event.raw_ref,
                "occurred_at": event.occurred_at,
            }
            for workspace_id, event in events
        ],
    )
    for _, event in events:
        await advance_status(
            conn,
            outbound.c.channel_account_id == event.channel_account_id,
            outbound.c.external_id == event.external_id,
            status=event.status,
            error=_error_text(event),
        )
    return len(events)


async def advance_status(
    conn: AsyncConnection, *where: object, status: DeliveryStatus, error: str | None = None
) -> bool:
    """Set a message's status if that is a step forward from where it is; True if it moved."""
    earlier = [s for s in DeliveryStatus if status.advances(s)]
    if not earlier:
        return False
    values: dict[str, object] = {"status": status, "updated_at": datetime.now(UTC)}
    if status is DeliveryStatus.FAILED:
        values["error"] = error or "the provider reported the message as failed"
    result = await conn.execute(
        update(outbound).where(*where).where(outbound.c.status.in_(earlier)).values(**values)
    )
    return result.rowcount > 0


async def apply_known_receipts(
    conn: AsyncConnection, channel_account_id: int, external_id: str
) -> None:
    """Apply receipts that arrived before the send job recorded the provider's id."""
    rows = await conn.execute(
        select(receipts.c.status, receipts.c.error)
        .where(receipts.c.channel_account_id == channel_account_id)
        .where(receipts.c.external_id == external_id)
        .order_by(receipts.c.occurred_at, receipts.c.id)
    )
    for row in rows.all():
        await advance_status(
            conn,
            outbound.c.channel_account_id == channel_account_id,
            outbound.c.external_id == external_id,
            status=DeliveryStatus(row.status),
            error=row.error,
        )


def _error_text(event: MessageStatusChanged) -> str | None:
    if event.error_code is None and event.error_message is None:
        return None
    return ": ".join(part for part in (event.error_code, event.error_message) if part)
