"""The export's core: an export that stops part-way (the client went away) is still audited,
with the rows it wrote and `complete: false`; spreadsheet formulas are written as text."""

from __future__ import annotations

from sqlalchemy import select

from hub.context import Hub
from reports.customer_export import Exporter, export_lines, start_export
from reports.export_formats import ExportFormat, row_line
from tests.workspace import seed_workspace
from timeline.models import AuditEntry, Customer, Role
from timeline.policy import BUILT_IN_ROLES


async def test_an_export_closed_part_way_is_audited_as_incomplete(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    async with hub.engine.begin() as conn:
        await conn.execute(
            Customer.__table__.insert(),
            [{"workspace_id": ws.id, "name": f"c{n}"} for n in range(3)],
        )
    exporter = Exporter(ws.id, BUILT_IN_ROLES[Role.MARKETER], ws.admin_id)
    export = await start_export(hub.reads, exporter, ExportFormat.CSV, None)
    lines = export_lines(hub.reads, hub.engine, export)
    assert (await anext(lines)).startswith(b"id,name,")
    assert b",c0," in await anext(lines)
    await lines.aclose()
    async with hub.engine.connect() as conn:
        [changes] = (
            await conn.execute(
                select(AuditEntry.changes).where(AuditEntry.action == "customers.exported")
            )
        ).scalars()
    assert changes["rows"] == 1 and changes["complete"] is False
    assert "phone" not in changes["columns"] and "telegram" in changes["columns"]


def test_cells_a_spreadsheet_would_run_are_written_as_text() -> None:
    columns = ["name", "phone"]
    for name, written in (
        ("=1+1", "'=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("-2+3", "'-2+3"),
        ("+cmd", "'+cmd"),
        ("Jo", "Jo"),
    ):
        line = row_line(ExportFormat.CSV, columns, {"name": name, "phone": ["+14155550123"]})
        assert line == f"{written},+14155550123\r\n".encode(), name
