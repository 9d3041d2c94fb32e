"""Identities a provider vouches are the sender's own (a Telegram contact card of their own
account): joined to the sender's customer, which becomes one with a customer already known
by such an identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline import audit
from timeline.field_changes import FieldChanged, by_hub, custom_field, field_changes, record_changes
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
    """Move the identities, conversations, timeline and field history of `absorb` to `keep`,
    add up their counters, give `keep` what it lacks of `absorb`'s profile and custom field
    values (where both have a value, `keep`'s stays: `absorb`'s is in the history it now
    holds), and delete `absorb`; recorded in the audit log, and in the history of `keep` (the
    customer it absorbed, each identity and field value it gained)."""
    both = await _profiles(conn, keep, absorb)
    kept, absorbed = both[keep], both[absorb]
    carried = {
        name: value for name, value in absorbed.attributes.items() if name not in kept.attributes
    }
    await conn.execute(
        update(field_changes)
        .where(field_changes.c.workspace_id == workspace_id)
        .where(field_changes.c.record_type == RecordType.CUSTOMER)
        .where(field_changes.c.record_id == absorb)
        .values(record_id=keep)
    )
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
            *(_gained(workspace_id, keep, custom_field(name), carried[name]) for name in carried),
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
    seen = [row.last_seen_at for row in both.values() if row.last_seen_at is not None]
    await conn.execute(
        update(customers)
        .where(customers.c.id == keep)
        .values(
            events_count=kept.events_count + absorbed.events_count,
            last_seen_at=max(seen) if seen else None,
            attributes={**kept.attributes, **carried},
            **_profile_gaps(kept, absorbed),
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


PROFILE_PARTS = (
    ("name", "name_folded"),
    ("birthday", "birth_month", "birth_day"),
    ("timezone",),
    ("language",),
)
"""A customer's profile columns, each group taken whole from one customer: the first names
the group, empty or None when the customer lacks it."""


async def _profiles(conn: AsyncConnection, *customer_ids: int) -> dict[int, Row[Any]]:
    """The customers' counters, custom field values and profiles, by id, locked in id order
    until the transaction ends: the merge writes them back, and a change made meanwhile (a
    field value set) would be overwritten."""
    profile = [customers.c[column] for group in PROFILE_PARTS for column in group]
    rows = await conn.execute(
        select(
            customers.c.id,
            customers.c.events_count,
            customers.c.last_seen_at,
            customers.c.attributes,
            *profile,
        )
        .where(customers.c.id.in_(customer_ids))
        .order_by(customers.c.id)
        .with_for_update()
    )
    return {row.id: row for row in rows}


def _profile_gaps(kept: Row[Any], absorbed: Row[Any]) -> dict[str, Any]:
    """The profile groups `kept` lacks and `absorbed` has."""
    return {
        column: getattr(absorbed, column)
        for group in PROFILE_PARTS
        if not getattr(kept, group[0]) and getattr(absorbed, group[0])
        for column in group
    }


def _gained(workspace_id: int, customer_id: int, field: str, added: object) -> FieldChanged:
    """A value the customer gained through the ingest (none before)."""
    return by_hub(
        ChangeSource.INGEST, workspace_id, RecordType.CUSTOMER, customer_id, field, None, added
    )
