"""Field history through the API: a record's changes newest first, a page at a time, with who
made them; details the caller may not see are left out; another workspace's records, and
conversations for a role that may not read them, are refused as their own record is."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.context import Hub
from tests.conftest import OpenApiChecker, bearer
from tests.hub.test_customer_export import _token
from tests.hub.test_sensitive_views import _views
from tests.timeline.conversation_helpers import admin, text
from tests.timeline.test_vouched_identities import vouching
from tests.workspace import SeededWorkspace, seed_workspace
from timeline.customer_fields import define_field
from timeline.models import Customer, FieldChange, Role

PHONE = "+14155550123"


async def _set(client: TestClient, ws: SeededWorkspace, customer_id: int, **values: Any) -> None:
    path = f"/api/v1/customers/{customer_id}/fields"
    response = await client.put(path, json={"fields": values}, headers=bearer(ws.token))
    assert response.status == 200, await response.text()


async def _customer(hub: Hub, ws: SeededWorkspace) -> int:
    """A customer whose phone a provider vouched for (a history entry), with custom fields
    tier and health (sensitive)."""
    await hub.pipeline.ingest([vouching(ws, "chat-1", PHONE)])
    async with hub.engine.begin() as conn:
        await define_field(conn, admin(ws), "tier", sensitive=False)
        await define_field(conn, admin(ws), "health", sensitive=True)
        return (await conn.execute(select(Customer.id))).scalar_one()


async def _fields(client: TestClient, token: str, path: str) -> list[str]:
    response = await client.get(path, headers=bearer(token))
    assert response.status == 200, await response.text()
    return [item["field"] for item in (await response.json())["items"]]


async def test_a_customers_history_is_newest_first_a_page_at_a_time(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub)
    customer_id = await _customer(hub, ws)
    for tier in ("bronze", "silver", "gold"):
        await _set(client, ws, customer_id, tier=tier)
    path = f"/api/v1/customers/{customer_id}/history"
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get(path, params=params, headers=bearer(ws.token))
        assert response.status == 200
        page = await response.json()
        openapi.check("GET", "/api/v1/customers/{customer_id}/history", 200, page)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [(i["field"], i["previous"], i["new"]) for i in seen] == [
        ("field:tier", "silver", "gold"),
        ("field:tier", "bronze", "silver"),
        ("field:tier", None, "bronze"),
        ("phone", None, PHONE),
    ]
    assert seen[0]["actor"] == {"user_id": ws.admin_id, "name": "Admin", "source": "user"}
    assert seen[-1]["actor"] == {"user_id": None, "name": "system", "source": "ingest"}
    assert seen[0]["changed_at"] >= seen[1]["changed_at"]


async def test_a_marketer_sees_no_contact_details_and_an_agent_no_sensitive_fields(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    customer_id = await _customer(hub, ws)
    await _set(client, ws, customer_id, tier="gold", health="asthma")
    path = f"/api/v1/customers/{customer_id}/history"
    everything = ["field:tier", "field:health", "phone"]  # newest first
    assert await _fields(client, ws.token, path) == everything
    assert await _fields(client, await _token(hub, ws, Role.MANAGER), path) == everything
    assert await _fields(client, await _token(hub, ws, Role.AGENT), path) == ["field:tier", "phone"]
    marketer = await _token(hub, ws, Role.MARKETER)
    assert await _fields(client, marketer, path) == ["field:tier"]


async def test_a_history_showing_sensitive_details_is_audited_as_a_record_view(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    customer_id = await _customer(hub, ws)
    await _set(client, ws, customer_id, tier="gold", health="asthma")
    path = f"/api/v1/customers/{customer_id}/history"
    await _fields(client, await _token(hub, ws, Role.MARKETER), path)
    assert await _views(hub) == []
    await _fields(client, ws.token, path)
    [view] = await _views(hub)
    assert view.actor_user_id == ws.admin_id and view.entity_id == str(customer_id)
    assert view.changes == {"fields": ["health"], "contact_details": ["phone"]}


async def test_a_conversations_history_names_who_changed_it(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub, agents=2)
    conversation_id = await text(hub, ws, PHONE, "SM1")
    base = f"/api/v1/conversations/{conversation_id}"
    assert (await client.post(f"{base}/resolve", headers=bearer(ws.token))).status == 200
    response = await client.get(f"{base}/history", headers=bearer(ws.token))
    assert response.status == 200
    page = await response.json()
    openapi.check("GET", "/api/v1/conversations/{conversation_id}/history", 200, page)
    [resolved] = page["items"]
    assert (resolved["field"], resolved["previous"], resolved["new"]) == (
        "status",
        "open",
        "resolved",
    )
    assert resolved["actor"] == {"user_id": ws.admin_id, "name": "Admin", "source": "user"}
    assert page["next_cursor"] is None


async def test_a_role_that_may_not_read_conversations_reads_no_conversations_history(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, PHONE, "SM1")
    role = {"name": "auditor", "permissions": ["customers.read", "account.own"]}
    assert (await client.post("/api/v1/roles", json=role, headers=bearer(ws.token))).status == 201
    auditor = await _token(hub, ws, "auditor")
    for path in (
        f"/api/v1/conversations/{conversation_id}",
        f"/api/v1/conversations/{conversation_id}/history",
    ):
        refused = await client.get(path, headers=bearer(auditor))
        assert (refused.status, (await refused.json())["error"]["code"]) == (
            403,
            "missing_permission",
        )


async def test_another_workspaces_records_are_not_found(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    other = await seed_workspace(hub, name="other")
    customer_id = await _customer(hub, ws)
    conversation_id = await text(hub, ws, PHONE, "SM1")
    for path in (
        f"/api/v1/customers/{customer_id}/history",
        f"/api/v1/conversations/{conversation_id}/history",
    ):
        assert (await client.get(path, headers=bearer(ws.token))).status == 200
        refused = await client.get(path, headers=bearer(other.token))
        assert (refused.status, (await refused.json())["error"]["code"]) == (404, "not_found")
    missing = await client.get("/api/v1/customers/999999/history", headers=bearer(ws.token))
    assert missing.status == 404


async def test_a_change_made_through_the_api_keeps_its_request_id(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    customer_id = await _customer(hub, ws)
    response = await client.put(
        f"/api/v1/customers/{customer_id}/fields",
        json={"fields": {"tier": "gold"}},
        headers={**bearer(ws.token), "X-Request-Id": "change-7"},
    )
    assert response.status == 200
    async with hub.engine.connect() as conn:
        rows = await conn.execute(
            select(FieldChange.field, FieldChange.request_id).order_by(FieldChange.id)
        )
        assert rows.all() == [("phone", None), ("field:tier", "change-7")]
