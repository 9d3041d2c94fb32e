"""The one place identities are read from and written to the database."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.identities import IdentityKey
from timeline.models import Customer, Identity

identities = Identity.__table__
customers = Customer.__table__


@dataclass(frozen=True, slots=True)
class IdentityRow:
    id: int
    customer_id: int


async def find_identities(
    conn: AsyncConnection, workspace_id: int, keys: Collection[IdentityKey]
) -> dict[IdentityKey, IdentityRow]:
    """Look identities up by normalized key; missing keys are absent from the result."""
    if not keys:
        return {}
    rows = await conn.execute(
        select(identities.c.id, identities.c.customer_id, identities.c.kind, identities.c.value)
        .where(identities.c.workspace_id == workspace_id)
        .where(tuple_(identities.c.kind, identities.c.value).in_([(k.kind, k.value) for k in keys]))
    )
    return {IdentityKey(r.kind, r.value): IdentityRow(r.id, r.customer_id) for r in rows}


async def resolve_identities(
    conn: AsyncConnection, workspace_id: int, keys: Collection[IdentityKey]
) -> dict[IdentityKey, IdentityRow]:
    """Find each identity, creating a new customer for each one never seen before.

    Callers hold the identity locks (timeline.sql.lock_keys), so two events from the same new
    handle never create two customers.
    """
    found = await find_identities(conn, workspace_id, keys)
    for key in sorted(set(keys) - set(found), key=lambda k: (k.kind, k.value)):
        found[key] = await _create_customer_with_identity(conn, workspace_id, key)
    return found


async def attach_identity(
    conn: AsyncConnection, workspace_id: int, customer_id: int, key: IdentityKey
) -> IdentityRow:
    result = await conn.execute(
        identities.insert().returning(identities.c.id),
        {
            "workspace_id": workspace_id,
            "customer_id": customer_id,
            "kind": key.kind,
            "value": key.value,
            "created_at": datetime.now(UTC),
        },
    )
    return IdentityRow(result.scalar_one(), customer_id)


async def _create_customer_with_identity(
    conn: AsyncConnection, workspace_id: int, key: IdentityKey
) -> IdentityRow:
    now = datetime.now(UTC)
    customer = await conn.execute(
        customers.insert().returning(customers.c.id),
        {
            "workspace_id": workspace_id,
            "name": "",
            "name_folded": "",
            "attributes": {},
            "events_count": 0,
            "created_at": now,
        },
    )
    return await attach_identity(conn, workspace_id, customer.scalar_one(), key)
