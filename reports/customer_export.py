"""Exports a workspace's customers as a file written row by row, under the field rules the
customer API applies, with one audit entry per export; the API and the CLI both export here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncEngine

from reports.export_formats import ExportFormat, header_line, row_line
from timeline import audit
from timeline.customer_fields import list_fields
from timeline.customer_view import hidden_fields, search_condition, visible_identities
from timeline.events import IdentityKind
from timeline.models import Customer
from timeline.policy import Permission, sees_identity_kind

customers = Customer.__table__

EXPORT_BATCH = 500
"""Customers read per query (keyset on id): memory holds one batch, whatever the export's
size, and no connection is held while the client reads."""

CUSTOMER_COLUMNS = (
    "id",
    "name",
    "birthday",
    "timezone",
    "language",
    "events_count",
    "last_seen_at",
    "created_at",
)
FIELD_PREFIX = "field:"
"""A custom field's column is its name after this prefix."""


@dataclass(frozen=True, slots=True)
class Exporter:
    """Who exports: their workspace, what their role (within their credentials) grants, and
    their user (None: a CLI command, whose operating-system user the audit origin names)."""

    workspace_id: int
    permissions: frozenset[Permission]
    user_id: int | None


@dataclass(slots=True)
class CustomerExport:
    """One export under way: its columns (what the field rules let the exporter see) and the
    rows written so far."""

    exporter: Exporter
    export_format: ExportFormat
    q: str | None
    columns: list[str]
    identity_kinds: list[str]
    custom_fields: list[str]
    found: ColumnElement[bool]
    """Which customers the filter finds (as the list's search does, under the field rules)."""
    rows: int = field(default=0)


async def start_export(
    reads: AsyncEngine, exporter: Exporter, export_format: ExportFormat, q: str | None
) -> CustomerExport:
    """The export's columns: the customer's own, one per identity kind the exporter sees
    (no phone or email column without customers.contact_details), one per custom field they
    see (no sensitive one without customers.sensitive_fields)."""
    async with reads.connect() as conn:
        hidden = await hidden_fields(conn, exporter.permissions, exporter.workspace_id)
        defined = await list_fields(conn, exporter.workspace_id)
        found = (
            await search_condition(conn, exporter.permissions, exporter.workspace_id, q)
            if q
            else true()
        )
    kinds = [kind.value for kind in IdentityKind if sees_identity_kind(exporter.permissions, kind)]
    fields = [definition.name for definition in defined if definition.name not in hidden]
    columns = [*CUSTOMER_COLUMNS, *kinds, *(FIELD_PREFIX + name for name in fields)]
    return CustomerExport(exporter, export_format, q, columns, kinds, fields, found)


async def export_lines(
    reads: AsyncEngine, engine: AsyncEngine, export: CustomerExport
) -> AsyncIterator[bytes]:
    """The file, line by line, customers in id order, read in batches of EXPORT_BATCH (each
    on a connection of its own). When it ends, finished or not (the client went away), the
    export is audited as `customers.exported` with its filter, rows and columns."""
    complete = False
    try:
        yield header_line(export.export_format, export.columns)
        async with aclosing(_rows(reads, export)) as rows:
            async for row in rows:
                export.rows += 1
                yield row_line(export.export_format, export.columns, row)
        complete = True
    finally:
        async with engine.begin() as conn:
            await _record(conn, export, complete=complete)


async def _rows(reads: AsyncEngine, export: CustomerExport) -> AsyncIterator[dict[str, Any]]:
    exporter = export.exporter
    after = 0
    while True:
        async with reads.connect() as conn:
            query = _batch_query(exporter.workspace_id, export.found, after)
            batch = (await conn.execute(query)).all()
            handles = await visible_identities(
                conn, exporter.permissions, [row.id for row in batch]
            )
        for row in batch:
            yield _row(export, row._mapping, handles[row.id])
        if len(batch) < EXPORT_BATCH:
            return
        after = batch[-1].id


def _batch_query(workspace_id: int, found: ColumnElement[bool], after: int) -> Any:
    return (
        select(*(customers.c[name] for name in CUSTOMER_COLUMNS), customers.c.attributes)
        .where(customers.c.workspace_id == workspace_id)
        .where(found)
        .where(customers.c.id > after)
        .order_by(customers.c.id)
        .limit(EXPORT_BATCH)
    )


def _row(export: CustomerExport, customer: Any, handles: Collection[Any]) -> dict[str, Any]:
    row = {name: customer[name] for name in CUSTOMER_COLUMNS}
    for kind in export.identity_kinds:
        row[kind] = [handle.value for handle in handles if handle.kind == kind]
    for name in export.custom_fields:
        row[FIELD_PREFIX + name] = customer["attributes"].get(name)
    return row


async def _record(conn: Any, export: CustomerExport, *, complete: bool) -> None:
    await audit.record(
        conn,
        workspace_id=export.exporter.workspace_id,
        actor_user_id=export.exporter.user_id,
        action="customers.exported",
        entity_type="workspace",
        entity_id=export.exporter.workspace_id,
        changes={
            "filter": {"q": export.q},
            "format": export.export_format.value,
            "rows": export.rows,
            "columns": export.columns,
            "complete": complete,
        },
    )
