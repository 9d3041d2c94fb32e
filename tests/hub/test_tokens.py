"""API tokens: keyed hashes (legacy ones rehashed on first use), scopes, expiry, revocation,
and their listing through the API."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from hub.api.framework import Access, ApiRoutes
from hub.app import api_routes
from hub.context import Hub
from hub.models import ApiToken
from hub.provisioning import create_api_token
from tests.conftest import OpenApiChecker, bearer
from tests.workspace import seed_workspace
from timeline.models import AuditEntry
from timeline.policy import READING

tokens = ApiToken.__table__


async def _stored_hash(hub: Hub, token_id: int) -> str:
    async with hub.engine.connect() as conn:
        query = select(tokens.c.token_hash).where(tokens.c.id == token_id)
        return (await conn.execute(query)).scalar_one()


async def test_the_stored_hash_is_keyed_and_a_legacy_one_is_rehashed_on_use(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    async with hub.engine.begin() as conn:
        new = await create_api_token(conn, hub.token_key, ws.admin_id, "keyed")
    bare = hashlib.sha256(new.token.encode()).hexdigest()
    assert await _stored_hash(hub, new.id) == hub.token_key.digest(new.token) != bare

    async with hub.engine.begin() as conn:
        await conn.execute(update(tokens).where(tokens.c.id == new.id).values(token_hash=bare))
    response = await client.get("/api/v1/teams", headers=bearer(new.token))
    assert response.status == 200
    assert await _stored_hash(hub, new.id) == hub.token_key.digest(new.token)
    assert (await client.get("/api/v1/teams", headers=bearer(new.token))).status == 200


async def test_an_expired_or_revoked_token_is_refused(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    soon = datetime.now(UTC) + timedelta(hours=1)
    async with hub.engine.begin() as conn:
        expiring = await create_api_token(conn, hub.token_key, ws.admin_id, expires_at=soon)
        revoked = await create_api_token(conn, hub.token_key, ws.admin_id)
    assert (await client.get("/api/v1/teams", headers=bearer(expiring.token))).status == 200
    async with hub.engine.begin() as conn:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await conn.execute(update(tokens).where(tokens.c.id == expiring.id).values(expires_at=past))
    assert (await client.get("/api/v1/teams", headers=bearer(expiring.token))).status == 401

    response = await client.delete(f"/api/v1/tokens/{revoked.id}", headers=bearer(ws.token))
    assert response.status == 200 and (await response.json())["revoked_at"]
    assert (await client.get("/api/v1/teams", headers=bearer(revoked.token))).status == 401


async def test_a_read_only_token_is_refused_on_every_state_changing_operation(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    async with hub.engine.begin() as conn:
        read_only = await create_api_token(
            conn, hub.token_key, ws.admin_id, "reader", permissions=READING
        )
    headers = bearer(read_only.token)
    changing = [
        e for e in api_routes().endpoints if e.method != "GET" and e.access is not Access.PUBLIC
    ]
    assert len(changing) >= 12
    for endpoint in changing:
        path = "/api/v1" + "/".join(
            "1" if part.startswith("{") else part for part in endpoint.path.split("/")
        )
        response = await client.request(endpoint.method, path, json={}, headers=headers)
        assert response.status == 403, (endpoint.method, path, await response.text())
    assert (await client.get("/api/v1/teams", headers=headers)).status == 200
    assert (await client.get("/api/v1/audit", headers=headers)).status == 403


def test_an_operation_that_changes_something_must_name_its_permission() -> None:
    with pytest.raises(ValueError, match="must name the permission"):
        ApiRoutes().add("POST", "/things", summary="x", tag="x", response=ApiRoutes)


async def test_owners_and_admins_list_create_and_revoke_tokens(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub)
    async with hub.engine.begin() as conn:
        agent = await create_api_token(conn, hub.token_key, ws.agent_ids[0], "agent")
        colleague = await create_api_token(conn, hub.token_key, ws.agent_ids[1], "colleague")
    as_agent = bearer(agent.token)
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    response = await client.post(
        "/api/v1/tokens",
        json={
            "name": "script",
            "permissions": ["conversations.read", "tokens.own"],
            "expires_at": later,
        },
        headers=as_agent,
    )
    assert response.status == 201
    created = await response.json()
    openapi.check("POST", "/api/v1/tokens", 201, created)
    assert (
        created["permissions"] == ["conversations.read", "tokens.own"]
        and created["user_id"] == ws.agent_ids[0]
    )

    scoped = bearer(created["token"])
    wider = await client.post("/api/v1/tokens", json={"name": "all"}, headers=scoped)
    assert wider.status == 403, "a scoped token cannot mint a token that may do more"
    both = {"name": "x", "read_only": True, "permissions": ["conversations.read"]}
    assert (await client.post("/api/v1/tokens", json=both, headers=as_agent)).status == 422
    unknown = {"name": "x", "permissions": ["root"]}
    assert (await client.post("/api/v1/tokens", json=unknown, headers=as_agent)).status == 422

    mine = await (await client.get("/api/v1/tokens", headers=as_agent)).json()
    openapi.check("GET", "/api/v1/tokens", 200, mine)
    assert {t["name"] for t in mine["items"]} == {"agent", "script"}
    others = await client.get(
        "/api/v1/tokens", params={"user_id": str(ws.agent_ids[1])}, headers=as_agent
    )
    assert others.status == 403
    refused = await client.delete(f"/api/v1/tokens/{colleague.id}", headers=as_agent)
    assert refused.status == 404

    pages, cursor = [], None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await (
            await client.get("/api/v1/tokens", params=params, headers=bearer(ws.token))
        ).json()
        pages += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert [t["name"] for t in pages] == ["script", "colleague", "agent", "tests"]
    revoked = await client.delete(f"/api/v1/tokens/{colleague.id}", headers=bearer(ws.token))
    assert revoked.status == 200
    itself = await client.delete(f"/api/v1/tokens/{created['id']}", headers=scoped)
    assert itself.status == 409 and (await itself.json())["error"]["code"] == "own_token"
    assert (await client.get("/api/v1/teams", headers=bearer(colleague.token))).status == 401
    async with hub.engine.connect() as conn:
        actions = (await conn.execute(select(AuditEntry.action))).scalars().all()
    assert actions.count("token.created") == 4 and actions.count("token.revoked") == 1
