"""Customers' custom fields: a workspace defines them (sensitive or not), customers carry
values (in `customers.attributes`, by field name), and the field rules decide who sees them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sql import insert_ignoring_conflicts
from timeline import audit
from timeline.actor import Actor
from timeline.domain import DomainEvent
from timeline.errors import Conflict, Forbidden, NotFound
from timeline.field_changes import by_user, custom_field, record_changes
from timeline.models import Customer, CustomField, RecordType
from timeline.policy import Permission, missing_permission, visible_field_values

custom_fields = CustomField.__table__
customers = Customer.__table__


@dataclass(frozen=True, slots=True)
class FieldDefinition:
    name: str
    sensitive: bool


@dataclass(frozen=True, slots=True)
class FieldsSet:
    values: dict[str, Any]
    """The customer's values after the change, as the actor may see them."""
    events: list[DomainEvent]


async def list_fields(conn: AsyncConnection, workspace_id: int) -> list[FieldDefinition]:
    rows = await conn.execute(
        select(custom_fields.c.name, custom_fields.c.sensitive)
        .where(custom_fields.c.workspace_id == workspace_id)
        .order_by(custom_fields.c.name)
    )
    return [FieldDefinition(row.name, row.sensitive) for row in rows]


async def sensitive_names(conn: AsyncConnection, workspace_id: int) -> frozenset[str]:
    """The workspace's fields marked sensitive."""
    fields = await list_fields(conn, workspace_id)
    return frozenset(field.name for field in fields if field.sensitive)


async def define_field(
    conn: AsyncConnection, actor: Actor, name: str, *, sensitive: bool
) -> FieldDefinition:
    """A new custom field (custom_fields.manage); Conflict `name_taken` if the workspace has
    it."""
    if not actor.may(Permission.CUSTOM_FIELDS_MANAGE):
        raise missing_permission(Permission.CUSTOM_FIELDS_MANAGE)
    field_id = (
        await conn.execute(
            insert_ignoring_conflicts(conn, custom_fields).returning(custom_fields.c.id),
            {"workspace_id": actor.workspace_id, "name": name, "sensitive": sensitive},
        )
    ).scalar_one_or_none()
    if field_id is None:
        raise Conflict("name_taken", f"a field named {name!r} already exists")
    await audit.record(
        conn,
        workspace_id=actor.workspace_id,
        actor_user_id=actor.user_id,
        action="custom_field.created",
        entity_type="custom_field",
        entity_id=field_id,
        changes={"name": [None, name], "sensitive": [None, sensitive]},
    )
    return FieldDefinition(name, sensitive)


async def set_values(
    conn: AsyncConnection, actor: Actor, customer_id: int, values: Mapping[str, str | None]
) -> FieldsSet:
    """Set (a string) or clear (None) some of a customer's field values (customers.write; a
    sensitive field also needs customers.sensitive_fields). Conflict `unknown_field` for a
    field the workspace does not define; NotFound for another workspace's customer. Tells of
    the change with `customer.fields_changed` ({customer_id, fields: the new values}), which
    the stream shows through the same field rules."""
    if not actor.may(Permission.CUSTOMERS_WRITE):
        raise missing_permission(Permission.CUSTOMERS_WRITE)
    defined = {field.name: field for field in await list_fields(conn, actor.workspace_id)}
    if unknown := sorted(set(values) - set(defined)):
        raise Conflict("unknown_field", f"no such custom field: {', '.join(unknown)}")
    sensitive = {name for name, field in defined.items() if field.sensitive}
    if sensitive & set(values) and not actor.may(Permission.CUSTOMERS_SENSITIVE_FIELDS):
        raise Forbidden(
            "setting a sensitive field needs customers.sensitive_fields", "missing_permission"
        )
    row = (
        await conn.execute(
            select(customers.c.attributes)
            .where(customers.c.id == customer_id)
            .where(customers.c.workspace_id == actor.workspace_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound("customer")
    before = dict(row.attributes)
    after = {**before, **values}
    after = {name: value for name, value in after.items() if value is not None}
    await conn.execute(
        update(customers).where(customers.c.id == customer_id).values(attributes=after)
    )
    changed = {custom_field(name): (before.get(name), after.get(name)) for name in sorted(values)}
    await record_changes(conn, by_user(actor, RecordType.CUSTOMER, customer_id, changed))
    # Names only: the audit log is read by more people than may see a sensitive value.
    await audit.record(
        conn,
        workspace_id=actor.workspace_id,
        actor_user_id=actor.user_id,
        action="customer.fields_changed",
        entity_type="customer",
        entity_id=customer_id,
        changes={"fields": sorted(values)},
    )
    event = DomainEvent(
        actor.workspace_id,
        "customer.fields_changed",
        {"customer_id": customer_id, "fields": dict(values)},
    )
    return FieldsSet(visible_field_values(actor.permissions, after, sensitive), [event])
