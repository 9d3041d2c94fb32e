"""Teams through the API: create, list, set members, hand a conversation over to a team."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.context import Hub
from hub.provisioning import create_api_token
from tests.conftest import OpenApiChecker, bearer
from tests.workspace import seed_workspace, sms_request
from timeline.models import AuditEntry, Conversation, User


async def test_managers_create_teams_and_set_their_members(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub, agents=3)
    first, second, third = ws.agent_ids
    admin = bearer(ws.token)
    response = await client.post(
        "/api/v1/teams", json={"name": " Billing ", "member_ids": [second, first]}, headers=admin
    )
    assert response.status == 201
    created = await response.json()
    openapi.check("POST", "/api/v1/teams", 201, created)
    assert created["name"] == "Billing" and created["member_ids"] == [first, second]

    response = await client.put(
        f"/api/v1/teams/{created['id']}/members", json={"member_ids": [third]}, headers=admin
    )
    assert response.status == 200
    openapi.check("PUT", "/api/v1/teams/{team_id}/members", 200, await response.json())
    await client.post("/api/v1/teams", json={"name": "Access"}, headers=admin)
    listing = await (await client.get("/api/v1/teams", headers=admin)).json()
    openapi.check("GET", "/api/v1/teams", 200, listing)
    assert [(t["name"], t["member_ids"]) for t in listing["items"]] == [
        ("Access", []),
        ("Billing", [third]),
    ]
    async with hub.engine.connect() as conn:
        actions = (await conn.execute(select(AuditEntry.action))).scalars().all()
    assert actions.count("team.created") == 2 and actions.count("team.members_set") == 1


async def test_bad_team_input_is_refused_with_the_field_named(hub: Hub, client: TestClient) -> None:
    ours = await seed_workspace(hub, name="ours")
    theirs = await seed_workspace(hub, name="theirs")
    admin = bearer(ours.token)
    await client.post("/api/v1/teams", json={"name": "Billing"}, headers=admin)
    for body, field in [
        ({"name": "Billing"}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "Sales", "member_ids": [theirs.agent_ids[0]]}, "member_ids"),
    ]:
        response = await client.post("/api/v1/teams", json=body, headers=admin)
        assert response.status == 422, body
        assert set((await response.json())["error"]["fields"]) == {field}
    their_team = await (
        await client.post("/api/v1/teams", json={"name": "X"}, headers=bearer(theirs.token))
    ).json()
    response = await client.put(
        f"/api/v1/teams/{their_team['id']}/members", json={"member_ids": []}, headers=admin
    )
    assert response.status == 404
    async with hub.engine.begin() as conn:
        agent_token = (await create_api_token(conn, hub.token_key, ours.agent_ids[0])).token
    mine = await client.post("/api/v1/teams", json={"name": "Mine"}, headers=bearer(agent_token))
    assert mine.status == 403


async def test_two_managers_naming_a_team_alike_at_once_get_one_team(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    admin = bearer(ws.token)
    names = [f"Team {n}" for n in range(5)]
    responses = await asyncio.gather(
        *(
            client.post("/api/v1/teams", json={"name": name}, headers=admin)
            for name in names
            for _ in range(2)
        )
    )
    statuses = [response.status for response in responses]
    assert [sorted(statuses[i : i + 2]) for i in range(0, 10, 2)] == [[201, 422]] * 5
    listing = await (await client.get("/api/v1/teams", headers=admin)).json()
    assert sorted(t["name"] for t in listing["items"]) == names


async def test_a_conversation_handed_to_a_team_goes_to_its_next_agent(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub, agents=2)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    async with hub.engine.connect() as conn:
        conversation_id, holder = (
            await conn.execute(select(Conversation.id, Conversation.assignee_id))
        ).one()
    other = next(agent for agent in ws.agent_ids if agent != holder)
    admin = bearer(ws.token)
    team = await (
        await client.post(
            "/api/v1/teams", json={"name": "Billing", "member_ids": [other]}, headers=admin
        )
    ).json()

    async with hub.engine.begin() as conn:
        holder_token = (await create_api_token(conn, hub.token_key, holder)).token
        other_token = (await create_api_token(conn, hub.token_key, other)).token
    path = f"/api/v1/conversations/{conversation_id}/transfer"
    refused = await client.post(path, json={"team_id": team["id"]}, headers=bearer(other_token))
    assert refused.status == 403
    response = await client.post(path, json={"team_id": team["id"]}, headers=bearer(holder_token))
    assert response.status == 200
    moved = await response.json()
    openapi.check("POST", "/api/v1/conversations/{conversation_id}/transfer", 200, moved)
    assert moved["team_id"] == team["id"] and moved["assignee_id"] == other
    async with hub.engine.connect() as conn:
        loads = dict((await conn.execute(select(User.id, User.open_conversations))).all())
    assert loads[holder] == 0 and loads[other] == 1
    listed = await (
        await client.get("/api/v1/conversations", params={"team_id": team["id"]}, headers=admin)
    ).json()
    assert [c["id"] for c in listed["items"]] == [conversation_id]

    response = await client.post(path, json={"team_id": team["id"] + 1000}, headers=admin)
    assert response.status == 422
    assert set((await response.json())["error"]["fields"]) == {"team_id"}
