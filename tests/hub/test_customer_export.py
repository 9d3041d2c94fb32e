"""`GET /api/v1/customers/export` and `switchboard customer export`: the file holds what the
field rules let the exporter see, streams thousands of customers in batches, and each export
is audited once."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.context import Hub
from hub.provisioning import create_api_token, create_user
from reports import customer_export
from tests.conftest import bearer
from tests.hub.test_cli import run
from tests.timeline.conversation_helpers import admin, text
from tests.workspace import SeededWorkspace, seed_workspace
from timeline.customer_fields import define_field
from timeline.models import AuditEntry, Customer, Identity, Role

PHONE = "+14155550123"
EMAIL = "jo@example.com"


async def _customer_with_details(hub: Hub, ws: SeededWorkspace) -> int:
    """A customer who texted from PHONE, with EMAIL too, and a tier and a sensitive health."""
    await text(hub, ws, PHONE, "SM1")
    async with hub.engine.begin() as conn:
        await define_field(conn, admin(ws), "tier", sensitive=False)
        await define_field(conn, admin(ws), "health", sensitive=True)
        customer_id = (await conn.execute(select(Customer.id))).scalar_one()
        await conn.execute(
            Identity.__table__.insert(),
            {"workspace_id": ws.id, "customer_id": customer_id, "kind": "email", "value": EMAIL},
        )
        await conn.execute(
            Customer.__table__.update().values(
                attributes={"tier": "gold", "health": "asthma"}, name="=HYPERLINK(1)"
            )
        )
    return customer_id


async def _token(hub: Hub, ws: SeededWorkspace, role: str) -> str:
    async with hub.engine.begin() as conn:
        user = await create_user(conn, ws.id, email=f"{role}@acme.test", name=role, role=role)
        return (await create_api_token(conn, hub.token_key, user)).token


async def _csv(client: TestClient, token: str, **params: str) -> list[dict[str, str]]:
    response = await client.get("/api/v1/customers/export", params=params, headers=bearer(token))
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"] == 'attachment; filename="customers.csv"'
    return list(csv.DictReader(io.StringIO(await response.text())))


async def test_an_admins_export_holds_contact_details_and_sensitive_fields(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    customer_id = await _customer_with_details(hub, ws)
    [row] = await _csv(client, ws.token)
    assert row["id"] == str(customer_id)
    assert row["phone"] == PHONE and row["email"] == EMAIL
    assert row["field:tier"] == "gold" and row["field:health"] == "asthma"
    assert row["name"] == "'=HYPERLINK(1)", "a formula is shown as text"
    assert [r["id"] for r in await _csv(client, ws.token, q=EMAIL)] == [str(customer_id)]


async def test_a_marketers_export_has_no_contact_details_and_cannot_search_by_them(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await _customer_with_details(hub, ws)
    marketer = await _token(hub, ws, Role.MARKETER)
    response = await client.get("/api/v1/customers/export", headers=bearer(marketer))
    body = await response.text()
    assert PHONE not in body and EMAIL not in body and "asthma" not in body
    [row] = list(csv.DictReader(io.StringIO(body)))
    assert "phone" not in row and "email" not in row and "field:health" not in row
    assert row["field:tier"] == "gold" and row["telegram"] == ""
    assert await _csv(client, marketer, q=PHONE) == []
    assert await _csv(client, marketer, q=EMAIL) == []
    agent = await _token(hub, ws, Role.AGENT)
    refused = await client.get("/api/v1/customers/export", headers=bearer(agent))
    assert refused.status == 403


async def test_thousands_of_customers_stream_in_batches_and_the_export_is_audited(
    hub: Hub, client: TestClient, monkeypatch: Any
) -> None:
    ws = await seed_workspace(hub)
    other = await seed_workspace(hub, name="Other")
    async with hub.engine.begin() as conn:
        await conn.execute(
            Customer.__table__.insert(),
            [{"workspace_id": ws.id, "name": f"c{n}"} for n in range(2501)]
            + [{"workspace_id": other.id, "name": "elsewhere"}],
        )
    batches: list[int] = []
    identities_of = customer_export.visible_identities

    async def counting(conn: Any, permissions: Any, customer_ids: list[int]) -> Any:
        batches.append(len(customer_ids))
        return await identities_of(conn, permissions, customer_ids)

    monkeypatch.setattr(customer_export, "visible_identities", counting)
    response = await client.get(
        "/api/v1/customers/export",
        params={"format": "ndjson"},
        headers={**bearer(ws.token), "X-Request-Id": "export-1"},
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in (await response.text()).splitlines()]
    assert len(records) == 2501
    ids = [record["id"] for record in records]
    assert ids == sorted(set(ids)), "each customer once, in id order"
    assert "elsewhere" not in {record["name"] for record in records}
    assert batches == [500] * 5 + [1]
    async with hub.engine.connect() as conn:
        [entry] = (
            await conn.execute(select(AuditEntry).where(AuditEntry.action == "customers.exported"))
        ).all()
    assert entry.workspace_id == ws.id and entry.actor_user_id == ws.admin_id
    assert entry.request_id == "export-1"
    assert entry.changes["rows"] == 2501 and entry.changes["complete"] is True
    assert entry.changes["filter"] == {"q": None} and entry.changes["format"] == "ndjson"
    assert {"id", "name", "phone", "email"} <= set(entry.changes["columns"])


async def test_a_client_that_goes_away_leaves_the_hub_serving_and_the_export_audited(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    async with hub.engine.begin() as conn:
        await conn.execute(
            Customer.__table__.insert(),
            [{"workspace_id": ws.id, "name": f"c{n}" * 40} for n in range(3000)],
        )
    response = await client.get("/api/v1/customers/export", headers=bearer(ws.token))
    assert response.status == 200
    assert await response.content.read(100)
    response.close()  # the connection goes with it, mid-file

    async def audited() -> Any:
        while True:
            async with hub.engine.connect() as conn:
                entry = (
                    await conn.execute(
                        select(AuditEntry.changes).where(AuditEntry.action == "customers.exported")
                    )
                ).scalar_one_or_none()
            if entry is not None:
                return entry
            await asyncio.sleep(0.05)

    entry = await asyncio.wait_for(audited(), timeout=20)
    assert entry["complete"] is False and entry["rows"] < 3000
    listed = await asyncio.wait_for(
        client.get("/api/v1/customers", headers=bearer(ws.token)), timeout=10
    )
    assert listed.status == 200


def test_the_command_line_exports_with_the_same_code(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/export.db"
    assert run(url, "migrate").returncode == 0
    demo = json.loads(run(url, "demo", "--json").stdout)
    workspace = str(demo["workspace_id"])
    exported = run(url, "customer", "export", "--workspace", workspace, "--format", "ndjson")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    assert records and all("phone" in record for record in records)
    with sqlite3.connect(tmp_path / "export.db") as db:
        [(os_user, actor, changes)] = db.execute(
            "SELECT os_user, actor_user_id, changes FROM audit_log"
            " WHERE action = 'customers.exported'"
        ).fetchall()
    assert os_user and actor is None and json.loads(changes)["rows"] == len(records)
    missing = run(url, "customer", "export", "--workspace", "999")
    assert missing.returncode == 1 and "no workspace 999" in missing.stderr
