"""The audit log through the API: refusals are recorded with their request id and address,
every answer names its request, and admins read the log filtered a page at a time."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.context import Hub
from hub.provisioning import create_api_token
from tests.conftest import OpenApiChecker, bearer
from tests.workspace import seed_workspace
from timeline.models import AuditEntry

audit_log = AuditEntry.__table__


async def _refusals(hub: Hub) -> list[dict[str, object]]:
    async with hub.engine.connect() as conn:
        query = select(audit_log).where(audit_log.c.action == "api.refused")
        return [dict(row._mapping) for row in await conn.execute(query.order_by(audit_log.c.id))]


async def test_a_401_is_audited_with_the_address_path_and_request_id(
    hub: Hub, client: TestClient
) -> None:
    response = await client.get(
        "/api/v1/customers", headers={**bearer("sbt_nonsense"), "X-Request-Id": "trace-42"}
    )
    assert response.status == 401
    assert response.headers["X-Request-Id"] == "trace-42"
    [refusal] = await _refusals(hub)
    assert refusal["workspace_id"] is None and refusal["actor_user_id"] is None
    assert refusal["entity_id"] == "401" and refusal["request_id"] == "trace-42"
    assert refusal["client_address"] == "127.0.0.1"
    assert refusal["changes"]["path"] == "/api/v1/customers"


async def test_a_request_without_a_usable_id_gets_one_made_up(client: TestClient) -> None:
    for given in ({}, {"X-Request-Id": "bad id\twith spaces"}, {"X-Request-Id": "x" * 65}):
        response = await client.get("/api/v1/nothing-here", headers=given)
        assert response.status == 404
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-Id"])


async def test_a_403_is_audited_with_its_actor(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    async with hub.engine.begin() as conn:
        agent_token = (await create_api_token(conn, hub.token_key, ws.agent_ids[0])).token
    response = await client.post(
        "/api/v1/teams", json={"name": "Billing"}, headers=bearer(agent_token)
    )
    assert response.status == 403
    [refusal] = await _refusals(hub)
    assert refusal["workspace_id"] == ws.id and refusal["actor_user_id"] == ws.agent_ids[0]
    assert refusal["entity_id"] == "403" and refusal["changes"]["method"] == "POST"
    assert refusal["request_id"] == response.headers["X-Request-Id"]


async def test_admins_read_the_log_filtered_and_paged(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub, agents=3)
    other = await seed_workspace(hub, name="other")
    admin = bearer(ws.token)
    started = datetime.now(UTC).isoformat()
    for name in ("One", "Two", "Three"):
        created = await client.post("/api/v1/teams", json={"name": name}, headers=admin)
        assert created.status == 201
    seen: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        params = {"action": "team.created", "limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/audit", params=params, headers=admin)
        assert response.status == 200
        page = await response.json()
        openapi.check("GET", "/api/v1/audit", 200, page)
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [entry["changes"]["name"][1] for entry in seen] == ["Three", "Two", "One"]
    assert all(entry["actor_user_id"] == ws.admin_id for entry in seen)
    assert all(entry["client_address"] == "127.0.0.1" and entry["request_id"] for entry in seen)

    by_time = await client.get(
        "/api/v1/audit", params={"since": started, "actor_user_id": str(ws.admin_id)}, headers=admin
    )
    assert [e["action"] for e in (await by_time.json())["items"]] == ["team.created"] * 3
    before = await client.get("/api/v1/audit", params={"until": started}, headers=admin)
    actions = {e["action"] for e in (await before.json())["items"]}
    assert "user.created" in actions and "team.created" not in actions
    theirs = await client.get("/api/v1/audit", params={"limit": "200"}, headers=bearer(other.token))
    assert all(e["action"] != "team.created" for e in (await theirs.json())["items"])


async def test_only_admins_read_the_log(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    async with hub.engine.begin() as conn:
        agent_token = (await create_api_token(conn, hub.token_key, ws.agent_ids[0])).token
    response = await client.get("/api/v1/audit", headers=bearer(agent_token))
    assert response.status == 403
    bad = await client.get("/api/v1/audit", params={"since": "yesterday"}, headers=bearer(ws.token))
    assert bad.status == 422 and set((await bad.json())["error"]["fields"]) == {"since"}
