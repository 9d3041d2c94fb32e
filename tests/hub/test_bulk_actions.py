"""`POST /api/v1/conversations/bulk`: bulk_actions to call it, each item under the single
action's record rules, audit and events; a refused item never blocks the others."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.context import Hub
from hub.provisioning import create_api_token, create_user
from hub.teams import create_team
from tests.conftest import OpenApiChecker, bearer
from tests.timeline.conversation_helpers import admin, conversation, text
from tests.workspace import SeededWorkspace, seed_workspace
from timeline.models import AuditEntry, LoggedDomainEvent, Role
from timeline.policy import BUILT_IN_ROLES, Permission
from timeline.policy.role_store import create_role


async def _agent_token(hub: Hub, ws: SeededWorkspace, *, bulk: bool) -> tuple[int, str]:
    """A new agent (a custom role of the agent's permissions and bulk_actions, if `bulk`) in
    a team of their own; their id and token."""
    role = "bulk agent" if bulk else Role.AGENT
    async with hub.engine.begin() as conn:
        if bulk:
            granted = BUILT_IN_ROLES[Role.AGENT] | {Permission.BULK_ACTIONS}
            await create_role(conn, admin(ws), role, granted)
        user = await create_user(
            conn, ws.id, email=f"{role}@acme.test".replace(" ", ""), name=role, role=role
        )
        return user, (await create_api_token(conn, hub.token_key, user)).token


async def _conversations(hub: Hub, ws: SeededWorkspace, agent_id: int) -> tuple[int, int, int]:
    """The agent's own conversation, an unassigned one of the agent's team, a colleague's."""
    colleague = ws.agent_ids[0]
    own, waiting, colleagues = [await text(hub, ws, f"+1415555010{n}", f"SM{n}") for n in range(3)]
    async with hub.engine.begin() as conn:
        team = await create_team(conn, ws.id, "Support", [agent_id])
        await hub.conversations.assign(conn, admin(ws), own, agent_id)
        await hub.conversations.transfer(conn, admin(ws), waiting, team.id)
        await hub.conversations.assign(conn, admin(ws), colleagues, colleague)
    return own, waiting, colleagues


async def test_an_agent_with_bulk_actions_resolves_what_they_may_and_only_that(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub, agents=1)
    agent_id, token = await _agent_token(hub, ws, bulk=True)
    own, waiting, colleagues = await _conversations(hub, ws, agent_id)
    assert (await conversation(hub, waiting)).assignee_id is None
    ids = [own, colleagues, 999_999, waiting, own]
    response = await client.post(
        "/api/v1/conversations/bulk",
        json={"action": "resolve", "ids": ids},
        headers=bearer(token),
    )
    assert response.status == 200
    answer = await response.json()
    openapi.check("post", "/api/v1/conversations/bulk", 200, answer)
    outcomes = {item["id"]: (item["ok"], item["status"], item["code"]) for item in answer["items"]}
    assert [item["id"] for item in answer["items"]] == [own, colleagues, 999_999, waiting]
    assert outcomes == {
        own: (True, 200, None),
        colleagues: (False, 403, "not_yours"),
        999_999: (False, 404, "not_found"),
        waiting: (True, 200, None),
    }
    assert [(await conversation(hub, c)).status for c in (own, waiting, colleagues)] == [
        "resolved",
        "resolved",
        "open",
    ]
    async with hub.engine.connect() as conn:
        audited = (
            await conn.execute(
                select(AuditEntry.entity_id, AuditEntry.actor_user_id).where(
                    AuditEntry.action == "conversation.resolved"
                )
            )
        ).all()
        logged = (
            await conn.execute(
                select(LoggedDomainEvent.data).where(
                    LoggedDomainEvent.type == "conversation.resolved"
                )
            )
        ).scalars()
        resolved = sorted(data["conversation_id"] for data in logged)
    assert sorted(audited) == sorted([(str(own), agent_id), (str(waiting), agent_id)])
    assert resolved == sorted([own, waiting])


async def test_snooze_and_assign_take_their_parameters(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub, agents=1)
    agent_id, token = await _agent_token(hub, ws, bulk=True)
    own, waiting, _ = await _conversations(hub, ws, agent_id)
    path = "/api/v1/conversations/bulk"
    taken = await client.post(
        path,
        json={"action": "assign", "ids": [waiting], "params": {"agent_id": agent_id}},
        headers=bearer(token),
    )
    assert [item["ok"] for item in (await taken.json())["items"]] == [True]
    assert (await conversation(hub, waiting)).assignee_id == agent_id
    snoozed = await client.post(
        path,
        json={"action": "snooze", "ids": [own], "params": {"until": "2040-01-31T09:00:00Z"}},
        headers=bearer(token),
    )
    assert [item["ok"] for item in (await snoozed.json())["items"]] == [True]
    assert (await conversation(hub, own)).status == "snoozed"
    for body in (
        {"action": "snooze", "ids": [own]},
        {"action": "assign", "ids": [own], "params": {}},
        {"action": "resolve", "ids": []},
        {"action": "resolve", "ids": list(range(1, 502))},
        {"action": "delete", "ids": [own]},
    ):
        refused = await client.post(path, json=body, headers=bearer(token))
        assert refused.status == 422, body


async def test_without_bulk_actions_the_call_is_refused(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub, agents=1)
    agent_id, token = await _agent_token(hub, ws, bulk=False)
    own, _, _ = await _conversations(hub, ws, agent_id)
    response = await client.post(
        "/api/v1/conversations/bulk",
        json={"action": "resolve", "ids": [own]},
        headers=bearer(token),
    )
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "missing_permission"
    assert (await conversation(hub, own)).status == "open"
