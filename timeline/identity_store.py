"""The one place identities are read from and written to the database."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.bulk import insert_returning_ids
from timeline.identities import IdentityKey
from timeline.models import Customer, Identity
from timeline.sql import fetch_rows, in_list

identities = Identity.__table__
customers = Customer.__table__

# One list per column (PostgreSQL plans a list of pairs slowly); callers drop the extra rows.
_FIND = (
    select(identities.c.id, identities.c.customer_id, identities.c.kind, identities.c.value)
    .where(identities.c.workspace_id == bindparam("workspace_id"))
    .where(in_list(identities.c.value, "values"))
    .where(in_list(identities.c.kind, "kinds"))
)


@dataclass(frozen=True, slots=True)
class IdentityRow:
    id: int
    customer_id: int


@dataclass(frozen=True, slots=True)
class Activity:
    """How many events a batch brings a customer, and when the newest of them happened."""

    events: int
    last_seen_at: datetime


async def find_identities(
    conn: AsyncConnection, workspace_id: int, keys: Collection[IdentityKey]
) -> dict[IdentityKey, IdentityRow]:
    """Look identities up by normalized key; missing keys are absent from the result."""
    if not keys:
        return {}
    wanted = set(keys)
    rows = await fetch_rows(
        conn,
        _FIND,
        {
            "workspace_id": workspace_id,
            "kinds": list({k.kind for k in wanted}),
            "values": list({k.value for k in wanted}),
        },
    )
    found = {
        IdentityKey(kind, value): IdentityRow(identity_id, customer_id)
        for identity_id, customer_id, kind, value in rows
    }
    return {key: row for key, row in found.items() if key in wanted}


async def attach_identity(
    conn: AsyncConnection, workspace_id: int, customer_id: int, key: IdentityKey
) -> IdentityRow:
    (row,) = await _attach_identities(conn, workspace_id, [(customer_id, key)])
    return row


async def create_customers(
    conn: AsyncConnection, workspace_id: int, activity: Mapping[IdentityKey, Activity]
) -> dict[IdentityKey, IdentityRow]:
    """A new customer for each identity never seen before, with it as their first identity.

    Each customer starts with the events the batch brings it already counted: a row is not
    updated in the transaction that inserted it (that would check its foreign keys again).
    Callers hold the identity locks (timeline.sql.lock_keys) and have looked the keys up, so two
    events from the same new handle never create two customers.
    """
    ordered = sorted(activity, key=lambda k: (k.kind, k.value))
    now = datetime.now(UTC)
    created = await insert_returning_ids(
        conn,
        customers,
        [
            {
                "workspace_id": workspace_id,
                "name": "",
                "name_folded": "",
                "attributes": {},
                "events_count": activity[key].events,
                "last_seen_at": activity[key].last_seen_at,
                "created_at": now,
            }
            for key in ordered
        ],
    )
    pairs = [(customer_id, key) for customer_id, key in zip(created, ordered, strict=True)]
    return dict(zip(ordered, await _attach_identities(conn, workspace_id, pairs), strict=True))


async def _attach_identities(
    conn: AsyncConnection, workspace_id: int, pairs: list[tuple[int, IdentityKey]]
) -> list[IdentityRow]:
    now = datetime.now(UTC)
    inserted = await insert_returning_ids(
        conn,
        identities,
        [
            {
                "workspace_id": workspace_id,
                "customer_id": customer_id,
                "kind": key.kind,
                "value": key.value,
                "created_at": now,
            }
            for customer_id, key in pairs
        ],
    )
    return [
        IdentityRow(identity_id, customer_id)
        for identity_id, (customer_id, _) in zip(inserted, pairs, strict=True)
    ]
