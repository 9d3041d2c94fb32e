"""Reads one record's field history, newest first, a keyset page at a time, as the field rules
let the reader see it: the changes of a field hidden from them are left out of the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.actor import Actor
from timeline.customer_view import SensitiveView, hidden_fields, sensitive_shown
from timeline.errors import NotFound
from timeline.field_changes import CUSTOM_FIELD_PREFIX, custom_field
from timeline.models import Conversation, Customer, FieldChange, RecordType, User
from timeline.policy import CONTACT_DETAIL_KINDS, sees_identity_kind

field_changes = FieldChange.__table__
users = User.__table__
_RECORDS: dict[RecordType, Table] = {
    RecordType.CUSTOMER: Customer.__table__,
    RecordType.CONVERSATION: Conversation.__table__,
}


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    id: int
    field: str
    previous: Any
    new: Any
    actor_user_id: int | None
    """None: the hub itself (`source` says what)."""
    actor_name: str | None
    source: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryPage:
    entries: list[HistoryEntry]
    more: bool
    """Whether older entries follow the page's."""
    viewed: SensitiveView | None
    """The sensitive details of a customer the page shows, for the caller to audit as a
    record view (None: none shown, or a conversation's history)."""


async def read_history(
    conn: AsyncConnection,
    actor: Actor,
    record_type: RecordType,
    record_id: int,
    *,
    before_id: int | None,
    limit: int,
) -> HistoryPage:
    """A page of up to `limit` changes of the actor's workspace's record with ids below
    `before_id` (the previous page's last), newest first; NotFound for a record of any other
    workspace.

    A customer's contact details (without customers.contact_details) and sensitive custom
    fields (without customers.sensitive_fields) hidden from the actor are hidden in the history
    too: their changes are left out, not shown with their values blanked."""
    await _require_record(conn, actor.workspace_id, record_type, record_id)
    query = (
        select(
            field_changes.c.id,
            field_changes.c.field,
            field_changes.c.previous,
            field_changes.c.new,
            field_changes.c.actor_user_id,
            users.c.name.label("actor_name"),
            field_changes.c.source,
            field_changes.c.changed_at,
        )
        .outerjoin(users, users.c.id == field_changes.c.actor_user_id)
        .where(field_changes.c.workspace_id == actor.workspace_id)
        .where(field_changes.c.record_type == record_type)
        .where(field_changes.c.record_id == record_id)
    )
    if record_type == RecordType.CUSTOMER:
        hidden = await _hidden_customer_fields(conn, actor)
        if hidden:
            query = query.where(field_changes.c.field.not_in(sorted(hidden)))
    if before_id is not None:
        query = query.where(field_changes.c.id < before_id)
    rows = (await conn.execute(query.order_by(field_changes.c.id.desc()).limit(limit + 1))).all()
    entries = [HistoryEntry(**row._mapping) for row in rows[:limit]]
    viewed = None
    if record_type == RecordType.CUSTOMER:
        names = {entry.field for entry in entries}
        viewed = await sensitive_shown(
            conn,
            actor.workspace_id,
            record_id,
            field_names=[
                name.removeprefix(CUSTOM_FIELD_PREFIX)
                for name in names
                if name.startswith(CUSTOM_FIELD_PREFIX)
            ],
            identity_kinds=names,
        )
    return HistoryPage(entries, len(rows) > limit, viewed)


async def _require_record(
    conn: AsyncConnection, workspace_id: int, record_type: RecordType, record_id: int
) -> None:
    table = _RECORDS[record_type]
    found = await conn.execute(
        select(table.c.id)
        .where(table.c.id == record_id)
        .where(table.c.workspace_id == workspace_id)
    )
    if found.first() is None:
        raise NotFound(record_type.value)


async def _hidden_customer_fields(conn: AsyncConnection, actor: Actor) -> frozenset[str]:
    """History's names of the customer details the field rules hide from the actor."""
    kinds = {
        kind for kind in CONTACT_DETAIL_KINDS if not sees_identity_kind(actor.permissions, kind)
    }
    sensitive = await hidden_fields(conn, actor.permissions, actor.workspace_id)
    return frozenset(kinds | {custom_field(name) for name in sensitive})
