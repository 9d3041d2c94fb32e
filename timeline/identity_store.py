"""The one place identities are read from and written to the database."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import insert_returning_ids
from storage.sql import fetch_rows, in_list
from timeline.identities import IdentityKey
from timeline.models import Customer, Identity

identities = Identity.__table__
customers = Customer.__table__

# One list per column (PostgreSQL plans a list of pairs slowly); `matched` drops the extra rows.
MATCHING = (
    select(
        identities.c.id,
        identities.c.customer_id,
        identities.c.workspace_id,
        identities.c.kind,
        identities.c.value,
        identities.c.unreachable_reason.is_not(None).label("unreachable"),
    )
    .where(in_list(identities.c.workspace_id, "workspaces"))
    .where(in_list(identities.c.value, "values"))
    .where(in_list(identities.c.kind, "kinds"))
    .cte("matching_identities")
)
"""The identities of some (workspace, key) pairs, given as `matching_parameters` says; a CTE, so
that statements fetched together with it (`storage.sql.fetch_together`) can read it."""
IDENTITIES_MATCHING = select(MATCHING)


@dataclass(frozen=True, slots=True)
class IdentityRow:
    id: int
    customer_id: int
    unreachable: bool = field(default=False, compare=False)
    """Marked unreachable (a send was refused: they blocked the bot), as read."""


@dataclass(frozen=True, slots=True)
class Activity:
    """How many events a batch brings a customer, and when the newest of them happened."""

    events: int
    last_seen_at: datetime


def matching_parameters(pairs: Collection[tuple[int, IdentityKey]]) -> dict[str, list[Any]]:
    return {
        "workspaces": list({workspace_id for workspace_id, _ in pairs}),
        "kinds": list({key.kind for _, key in pairs}),
        "values": list({key.value for _, key in pairs}),
    }


def matched(
    rows: Iterable[Sequence[Any]], pairs: Collection[tuple[int, IdentityKey]]
) -> dict[tuple[int, IdentityKey], IdentityRow]:
    """The identities of IDENTITIES_MATCHING's rows that were asked for, by (workspace, key)."""
    found = {
        (workspace_id, IdentityKey(kind, value)): IdentityRow(
            identity_id, customer_id, bool(unreachable)
        )
        for identity_id, customer_id, workspace_id, kind, value, unreachable in rows
    }
    return {pair: row for pair, row in found.items() if pair in pairs}


async def find_identities(
    conn: AsyncConnection, workspace_id: int, keys: Collection[IdentityKey]
) -> dict[IdentityKey, IdentityRow]:
    """Look identities up by normalized key; missing keys are absent from the result."""
    if not keys:
        return {}
    pairs = {(workspace_id, key) for key in keys}
    rows = await fetch_rows(conn, IDENTITIES_MATCHING, matching_parameters(pairs))
    return {key: row for (_, key), row in matched(rows, pairs).items()}


async def attach_identity(
    conn: AsyncConnection, workspace_id: int, customer_id: int, key: IdentityKey
) -> IdentityRow:
    row = identity_row(workspace_id, customer_id, key, datetime.now(UTC))
    (identity_id,) = await insert_returning_ids(conn, identities, [row])
    return IdentityRow(identity_id, customer_id)


async def mark_reachable(conn: AsyncConnection, identity_ids: Collection[int]) -> None:
    """Clear the unreachable mark of identities whose customer wrote from them again: a
    customer who blocked the bot and writes to it has unblocked it."""
    if identity_ids:
        await conn.execute(
            update(identities)
            .where(identities.c.id.in_(sorted(identity_ids)))
            .values(unreachable_reason=None, unreachable_since=None)
        )


def identity_row(
    workspace_id: int, customer_id: int, key: IdentityKey, now: datetime
) -> dict[str, object]:
    return {
        "workspace_id": workspace_id,
        "customer_id": customer_id,
        "kind": key.kind,
        "value": key.value,
        "created_at": now,
    }
