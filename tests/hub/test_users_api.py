"""Users and custom roles through the API: an admin adds a user of a custom role, whose
permissions then decide what they may do; nobody changes their own role."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from hub.context import Hub
from hub.provisioning import create_api_token
from tests.conftest import OpenApiChecker, bearer
from tests.timeline.conversation_helpers import admin, text
from tests.workspace import seed_workspace


async def test_a_user_of_a_custom_role_acts_as_its_permissions_say(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub, agents=1)
    headers = bearer(ws.token)
    role = {"name": "senior", "permissions": ["conversations.read", "conversations.act",
                                              "conversations.act_on_any"]}  # fmt: skip
    response = await client.post("/api/v1/roles", json=role, headers=headers)
    assert response.status == 201, await response.text()
    openapi.check("POST", "/api/v1/roles", 201, await response.json())
    again = await client.post("/api/v1/roles", json=role, headers=headers)
    assert (await again.json())["error"]["code"] == "name_taken"
    user = {"email": "Sam@Acme.test", "name": "Sam", "role": "senior"}
    response = await client.post("/api/v1/users", json=user, headers=headers)
    assert response.status == 201, await response.text()
    sam = await response.json()
    assert sam["email"] == "sam@acme.test" and sam["role"] == "senior"
    taken = await client.post("/api/v1/users", json=user, headers=headers)
    assert (await taken.json())["error"]["code"] == "email_taken"
    unknown = {**user, "email": "x@acme.test", "role": "wizard"}
    refused = await client.post("/api/v1/users", json=unknown, headers=headers)
    assert (await refused.json())["error"]["code"] == "unknown_role"
    async with hub.engine.begin() as conn:
        token = (await create_api_token(conn, hub.token_key, sam["id"])).token
    conversation_id = await text(hub, ws, "+14155550123", "SM1")
    async with hub.engine.begin() as conn:
        await hub.conversations.assign(conn, admin(ws), conversation_id, ws.agent_ids[0])
    path = f"/api/v1/conversations/{conversation_id}"
    note = await client.post(f"{path}/notes", json={"body": "on it"}, headers=bearer(token))
    assert note.status == 201, await note.text()
    take = await client.post(f"{path}/assign", json={"agent_id": sam["id"]}, headers=bearer(token))
    assert take.status == 403
    assert (await take.json())["error"]["code"] == "reassign_not_allowed"
    customers = await client.get("/api/v1/customers", headers=bearer(token))
    assert (await customers.json())["error"]["code"] == "missing_permission"


async def test_nobody_changes_their_own_role(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub, agents=1)
    headers = bearer(ws.token)
    demote = await client.put(
        f"/api/v1/users/{ws.admin_id}/role", json={"role": "agent"}, headers=headers
    )
    assert demote.status == 409
    assert (await demote.json())["error"]["code"] == "own_role"
    promote = await client.put(
        f"/api/v1/users/{ws.agent_ids[0]}/role", json={"role": "admin"}, headers=headers
    )
    assert promote.status == 200
    listed = await (await client.get("/api/v1/users", headers=headers)).json()
    assert {u["id"]: u["role"] for u in listed["items"]}[ws.agent_ids[0]] == "admin"
