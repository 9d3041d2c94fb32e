"""Views of one customer's record that show sensitive custom fields or contact details are
audited as `customer.sensitive_viewed` (names, never values); other views and list pages are
not."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.context import Hub
from tests.conftest import bearer
from tests.hub.test_customer_export import _customer_with_details, _token
from tests.workspace import seed_workspace
from timeline.models import AuditEntry, Role


async def _views(hub: Hub) -> list[Any]:
    async with hub.engine.connect() as conn:
        return (
            await conn.execute(
                select(AuditEntry)
                .where(AuditEntry.action == "customer.sensitive_viewed")
                .order_by(AuditEntry.id)
            )
        ).all()


async def test_a_record_view_showing_sensitive_details_is_audited_by_name(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    customer_id = await _customer_with_details(hub, ws)
    agent = await _token(hub, ws, Role.AGENT)
    path = f"/api/v1/customers/{customer_id}"
    shown = await client.get(path, headers={**bearer(ws.token), "X-Request-Id": "view-1"})
    assert (await shown.json())["attributes"]["health"] == "asthma"
    assert (await client.get(path, headers=bearer(agent))).status == 200
    admins, agents = await _views(hub)
    assert admins.actor_user_id == ws.admin_id and admins.entity_id == str(customer_id)
    assert admins.request_id == "view-1"
    assert admins.changes == {"fields": ["health"], "contact_details": ["email", "phone"]}
    assert agents.changes == {"fields": [], "contact_details": ["email", "phone"]}
    assert "asthma" not in str(admins.changes) and "+1415" not in str(admins.changes)


async def test_views_without_sensitive_details_and_list_pages_are_not_audited(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    customer_id = await _customer_with_details(hub, ws)
    marketer = await _token(hub, ws, Role.MARKETER)
    one = await client.get(f"/api/v1/customers/{customer_id}", headers=bearer(marketer))
    assert (await one.json())["attributes"] == {"tier": "gold"}
    listed = await client.get("/api/v1/customers", headers=bearer(ws.token))
    assert listed.status == 200
    assert await _views(hub) == []
