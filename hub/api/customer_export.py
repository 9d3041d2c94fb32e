"""`GET /customers/export`: the workspace's customers as a CSV or NDJSON file, streamed, under
the field rules (reports.customer_export)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from hub.api.framework import ApiRoutes, Call, Streamed, Text
from hub.web_keys import HUB
from reports.customer_export import Exporter, export_lines, start_export
from reports.export_formats import ExportFormat
from timeline.policy import Permission

routes = ApiRoutes()


class CustomerFile(Streamed):
    media_types = tuple(export_format.media_type for export_format in ExportFormat)


class ExportQuery(BaseModel):
    q: Text | None = Field(
        None,
        max_length=200,
        description="as the customer list's search: a name prefix, a phone number or an email "
        "address (which finds nobody for a role that may not see it)",
    )
    format: Literal["csv", "ndjson"] = Field(
        "csv", description="csv (a header row, then a row a customer) or ndjson"
    )


@routes.add(
    "GET",
    "/customers/export",
    summary="Export customers as a file (CSV or NDJSON), written as it is read",
    tag="customers",
    response=CustomerFile,
    query=ExportQuery,
    permission=Permission.CUSTOMERS_EXPORT,
)
async def export_customers(call: Call[Any, ExportQuery]) -> CustomerFile:
    """Columns follow the field rules: no phone or email column without
    customers.contact_details, no sensitive custom field without customers.sensitive_fields.
    Each export writes one `customers.exported` audit entry (filter, rows, columns)."""
    hub = call.request.app[HUB]
    principal = call.principal
    exporter = Exporter(principal.workspace_id, principal.permissions, principal.user_id)
    export_format = ExportFormat(call.query.format)
    export = await start_export(hub.reads, exporter, export_format, call.query.q)
    return CustomerFile(
        export_format.media_type,
        f"customers.{export_format.value}",
        export_lines(hub.reads, hub.engine, export),
    )
