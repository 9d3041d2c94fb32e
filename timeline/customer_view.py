"""Customers as a caller may see and find them under the field rules: the search condition,
their visible identities, the custom fields hidden from them, and the audit of a record view
that showed sensitive details. The API's customer answers and the export share it."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, select
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline import audit
from timeline.customer_fields import sensitive_names
from timeline.identities import parse_query_identity
from timeline.identity_store import find_identities
from timeline.models import Customer, Identity, Workspace
from timeline.policy import CONTACT_DETAIL_KINDS, Permission, sees_identity_kind

customers = Customer.__table__
identities = Identity.__table__


@dataclass(frozen=True, slots=True)
class ShownIdentity:
    kind: str
    value: str
    unreachable: str | None
    """Why nothing sent to this handle arrives, if it does not."""


async def search_condition(
    conn: AsyncConnection, permissions: Collection[Permission], workspace_id: int, q: str
) -> ColumnElement[bool]:
    """The customers a search finds: a phone number or an email address finds its customer
    (nobody for a role that may not see such details: a hidden detail is not searchable);
    other text is a name prefix."""
    country = (
        await conn.execute(select(Workspace.default_country).where(Workspace.id == workspace_id))
    ).scalar_one()
    key = parse_query_identity(q, country)
    if key is None:
        # autoescape: a `%` or `_` typed by the caller is a letter, not a LIKE wildcard.
        return customers.c.name_folded.startswith(q.casefold(), autoescape=True)
    if not sees_identity_kind(permissions, key.kind):
        return false()
    found = await find_identities(conn, workspace_id, [key])
    return customers.c.id.in_([row.customer_id for row in found.values()])


async def hidden_fields(
    conn: AsyncConnection, permissions: Collection[Permission], workspace_id: int
) -> frozenset[str]:
    """The custom fields these permissions may not see (none: no query)."""
    if Permission.CUSTOMERS_SENSITIVE_FIELDS in permissions:
        return frozenset()
    return await sensitive_names(conn, workspace_id)


async def visible_identities(
    conn: AsyncConnection, permissions: Collection[Permission], customer_ids: list[int]
) -> dict[int, list[ShownIdentity]]:
    """Each customer's identities, oldest first, without the kinds these permissions may not
    see."""
    shown: dict[int, list[ShownIdentity]] = {customer_id: [] for customer_id in customer_ids}
    if customer_ids:
        rows = await conn.execute(
            select(
                identities.c.customer_id,
                identities.c.kind,
                identities.c.value,
                identities.c.unreachable_reason,
            )
            .where(identities.c.customer_id.in_(customer_ids))
            .order_by(identities.c.id)
        )
        for row in rows:
            if sees_identity_kind(permissions, row.kind):
                shown[row.customer_id].append(
                    ShownIdentity(row.kind, row.value, row.unreachable_reason)
                )
    return shown


@dataclass(frozen=True, slots=True)
class SensitiveView:
    """What sensitive details one customer's record showed: custom fields marked sensitive
    and contact-detail kinds, by name only."""

    customer_id: int
    fields: list[str]
    contact_details: list[str]


async def sensitive_shown(
    conn: AsyncConnection,
    workspace_id: int,
    customer_id: int,
    *,
    field_names: Collection[str],
    identity_kinds: Iterable[str],
) -> SensitiveView | None:
    """The sensitive details among what a record view showed (`field_names`, `identity_kinds`),
    or None when it showed none; the workspace's sensitive fields are read only when the view
    showed some field."""
    kinds = sorted(set(identity_kinds) & CONTACT_DETAIL_KINDS)
    sensitive = await sensitive_names(conn, workspace_id) if field_names else frozenset()
    fields = sorted(set(field_names) & sensitive)
    if not fields and not kinds:
        return None
    return SensitiveView(customer_id, fields, kinds)


async def record_sensitive_view(
    conn: AsyncConnection, workspace_id: int, actor_user_id: int, view: SensitiveView
) -> None:
    """Audit `customer.sensitive_viewed`: the record's id and the names of what it showed,
    never values.

    Only single-record views are audited: a list page or a search shows dozens of customers
    at a time, and an entry per customer shown would flood the log (and cost a write per
    read) while saying little the request log does not; an export has its own entry."""
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="customer.sensitive_viewed",
        entity_type="customer",
        entity_id=view.customer_id,
        changes={"fields": view.fields, "contact_details": view.contact_details},
    )
