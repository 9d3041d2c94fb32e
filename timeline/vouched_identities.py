"""Identities a provider vouches are the sender's own (a Telegram contact card of their own
account): joined to the sender's customer, which becomes one with a customer already known
by such an identity."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline import audit
from timeline.field_changes import FieldChanged, by_hub, record_changes
from timeline.identities import IdentityKey
from timeline.identity_store import attach_identity, find_identities
from timeline.models import (
    ChangeSource,
    Conversation,
    Customer,
    Identity,
    RecordType,
    TimelineEvent,
)

customers = Customer.__table__
identities = Identity.__table__


@dataclass(frozen=True, slots=True)
class VouchedIdentity:
    """An identity of the customer who sent a stored message, in that message's workspace."""

    workspace_id: int
    customer_id: int
    key: IdentityKey


async def join_vouched(conn: AsyncConnection, vouched: list[VouchedIdentity]) -> None:
    """Attach each identity to its sender's customer; one already a different customer's makes
    the two customers one: the one known by it (whose history it names) keeps everything.

    The caller holds the identities' locks, so none is attached by another batch meanwhile.
    """
    merged: dict[int, int] = {}
    """Customer id -> the customer it became part of, earlier in this batch."""
    for item in vouched:
        customer_id = item.customer_id
        while customer_id in merged:
            customer_id = merged[customer_id]
        known = (await find_identities(conn, item.workspace_id, [item.key])).get(item.key)
        if known is None:
            await attach_identity(conn, item.workspace_id, customer_id, item.key)
            await record_changes(
                conn,
                [_gained(item.workspace_id, customer_id, item.key.kind, item.key.value)],
            )
        elif known.customer_id != customer_id:
            await merge_customers(
                conn, item.workspace_id, keep=known.customer_id, absorb=customer_id
            )
            merged[customer_id] = known.customer_id


async def merge_customers(
    conn: AsyncConnection, workspace_id: int, *, keep: int, absorb: int
) -> None:
    """Move the identities, conversations and timeline of `absorb` to `keep`, add up their
    counters, and delete `absorb`; recorded in the audit log, and in the history of `keep`
    (the customer it absorbed, each identity it gained)."""
    moved = await conn.execute(
        select(identities.c.kind, identities.c.value)
        .where(identities.c.customer_id == absorb)
        .order_by(identities.c.id)
    )
    await record_changes(
        conn,
        [
            _gained(workspace_id, keep, "merged_customer", absorb),
            *(_gained(workspace_id, keep, row.kind, row.value) for row in moved),
        ],
    )
    for model in (Identity, Conversation, TimelineEvent):
        table = model.__table__
        await conn.execute(
            update(table)
            .where(table.c.workspace_id == workspace_id)
            .where(table.c.customer_id == absorb)
            .values(customer_id=keep)
        )
    rows = await conn.execute(
        select(customers.c.id, customers.c.events_count, customers.c.last_seen_at).where(
            customers.c.id.in_((keep, absorb))
        )
    )
    both = {row.id: row for row in rows}
    seen = [row.last_seen_at for row in both.values() if row.last_seen_at is not None]
    await conn.execute(
        update(customers)
        .where(customers.c.id == keep)
        .values(
            events_count=sum(row.events_count for row in both.values()),
            last_seen_at=max(seen) if seen else None,
        )
    )
    await conn.execute(delete(customers).where(customers.c.id == absorb))
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=None,
        action="customer.merged",
        entity_type="customer",
        entity_id=keep,
        changes={"absorbed": absorb},
    )


def _gained(workspace_id: int, customer_id: int, field: str, added: object) -> FieldChanged:
    """A value the customer gained through the ingest (none before)."""
    return by_hub(
        ChangeSource.INGEST, workspace_id, RecordType.CUSTOMER, customer_id, field, None, added
    )
