"""Deactivating a user (hub/users.py): every way in closes at once (sessions, tokens, an open
stream, sign-in, reset links), routing passes them over and hands their conversations on, what
they did stays; reactivating lets them sign in again, with nothing old revived."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from channels.sms.simulate import inbound_sms_form, signed
from hub.api import stream as stream_module
from hub.context import Hub
from hub.models import PasswordResetLink
from hub.provisioning import create_api_token
from tests.conftest import bearer
from tests.hub.signing_in import PASSWORD, sign_in, sign_in_request, user_with_password
from tests.hub.test_cli import run
from tests.workspace import (
    OUR_NUMBER,
    SMS_ACCOUNT_SID,
    SMS_AUTH_TOKEN,
    SeededWorkspace,
    seed_workspace,
)
from timeline.models import AuditEntry, Conversation, Role, User

ANN = "ann@acme.test"


async def _text(client: TestClient, ws: SeededWorkspace, sender: str) -> None:
    fields = inbound_sms_form(
        sender=sender, recipient=OUR_NUMBER, body="hello", account_sid=SMS_ACCOUNT_SID
    )
    data, headers = signed(ws.sms_webhook_url, SMS_AUTH_TOKEN, fields)
    response = await client.post(ws.sms_webhook_path, data=data, headers=headers)
    assert response.status == 200, await response.text()


async def _json(client: TestClient, method: str, path: str, token: str, **body: Any) -> Any:
    response = await client.request(method, path, json=body or None, headers=bearer(token))
    return response.status, await response.json()


async def _ann_holding_a_conversation(
    hub: Hub, client: TestClient
) -> tuple[SeededWorkspace, int, int]:
    """A workspace whose agent Ann (signed up with a password, available) holds the one
    conversation; its two seeded agents are away, but for the second, who is available."""
    ws = await seed_workspace(hub)
    ann = await user_with_password(hub, ws.id, ANN, role=Role.AGENT)
    for agent in ws.agent_ids:
        status, _ = await _json(
            client, "PUT", f"/api/v1/agents/{agent}/availability", ws.token, availability="away"
        )
        assert status == 200
    status, _ = await _json(
        client, "PUT", f"/api/v1/agents/{ann}/availability", ws.token, availability="available"
    )
    assert status == 200
    await _text(client, ws, "+14155550123")
    async with hub.engine.connect() as conn:
        conversation_id, assignee = (
            await conn.execute(select(Conversation.id, Conversation.assignee_id))
        ).one()
    assert assignee == ann
    status, _ = await _json(
        client,
        "PUT",
        f"/api/v1/agents/{ws.agent_ids[1]}/availability",
        ws.token,
        availability="available",
    )
    assert status == 200
    return ws, ann, conversation_id


async def _agent(hub: Hub, user_id: int) -> tuple[str, int]:
    async with hub.engine.connect() as conn:
        row = (
            await conn.execute(
                select(User.availability, User.open_conversations).where(User.id == user_id)
            )
        ).one()
    return row.availability, row.open_conversations


async def test_a_deactivated_user_is_let_go_everywhere_at_once(
    hub: Hub, client: TestClient, monkeypatch: Any
) -> None:
    monkeypatch.setattr(stream_module, "CATCH_UP_SECONDS", 0.2)
    ws, ann, conversation_id = await _ann_holding_a_conversation(hub, client)
    browser = await sign_in(client, ANN)
    async with hub.engine.begin() as conn:
        token = (await create_api_token(conn, hub.token_key, ann, "ann's script")).token
    assert (await client.get("/api/v1/session", headers=browser.headers())).status == 200
    socket = await client.ws_connect("/api/v1/stream", headers=bearer(token))

    status, user = await _json(client, "POST", f"/api/v1/users/{ann}/deactivate", ws.token)
    assert status == 200, user
    assert user == {"id": ann, "email": ANN, "name": ANN, "role": "agent", "active": False}

    # Every way in is closed, at once.
    assert (await client.get("/api/v1/session", headers=browser.headers())).status == 401
    assert (await client.get("/api/v1/customers", headers=bearer(token))).status == 401
    status, _, cookie = await sign_in_request(client, ANN, PASSWORD)
    assert (status, cookie) == (401, None)
    message = await socket.receive(timeout=5)
    assert (message.type, message.data) == (WSMsgType.CLOSE, stream_module.CREDENTIAL_ENDED)
    reset = await client.post("/api/v1/password-reset", json={"email": ANN})
    assert reset.status == 202
    async with hub.engine.connect() as conn:
        links = await conn.execute(select(func.count()).select_from(PasswordResetLink))
        assert links.scalar_one() == 0

    # Routing passes her over; her conversation went to the agent who is available.
    async with hub.engine.connect() as conn:
        assignee = await conn.scalar(select(Conversation.assignee_id))
    assert assignee == ws.agent_ids[1]
    assert await _agent(hub, ann) == ("away", 0)
    assert await _agent(hub, ws.agent_ids[1]) == ("available", 1)
    status, refused = await _json(
        client, "PUT", f"/api/v1/agents/{ann}/availability", ws.token, availability="available"
    )
    assert (status, refused["error"]["code"]) == (409, "deactivated")
    path = f"/api/v1/conversations/{conversation_id}/assign"
    status, refused = await _json(client, "POST", path, ws.token, agent_id=ann)
    assert status == 422, refused
    _, agents = await _json(client, "GET", "/api/v1/agents", ws.token)
    assert ann not in [agent["id"] for agent in agents["items"]]
    _, users = await _json(client, "GET", "/api/v1/users", ws.token)
    assert {u["id"]: u["active"] for u in users["items"]}[ann] is False

    # What happened is audited and told.
    async with hub.engine.connect() as conn:
        (changes,) = (
            await conn.execute(
                select(AuditEntry.changes).where(AuditEntry.action == "user.deactivated")
            )
        ).scalars()
    assert changes["conversations_handed_on"] == [conversation_id]
    assert len(changes["tokens_revoked"]) == 1
    history = await client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer(ws.token))
    assert (await history.json())["assignee_id"] == ws.agent_ids[1]

    # Reactivated: she signs in again with her password; nothing old comes back.
    status, user = await _json(client, "POST", f"/api/v1/users/{ann}/reactivate", ws.token)
    assert (status, user["active"]) == (200, True)
    assert (await client.get("/api/v1/customers", headers=bearer(token))).status == 401
    assert (await client.get("/api/v1/session", headers=browser.headers())).status == 401
    again = await sign_in(client, ANN)
    assert (await client.get("/api/v1/session", headers=again.headers())).status == 200
    assert await _agent(hub, ann) == ("away", 0)


async def test_nobody_deactivates_themselves_nor_anyone_of_another_workspace(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    theirs = await seed_workspace(hub, name="theirs")
    status, refused = await _json(
        client, "POST", f"/api/v1/users/{ws.admin_id}/deactivate", ws.token
    )
    assert (status, refused["error"]["code"]) == (409, "own_account")
    path = f"/api/v1/users/{theirs.agent_ids[0]}/deactivate"
    status, refused = await _json(client, "POST", path, ws.token)
    assert status == 404
    assert await _agent(hub, theirs.agent_ids[0]) == ("available", 0)


async def test_deactivating_twice_changes_nothing_the_second_time(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    for _ in range(2):
        status, user = await _json(
            client, "POST", f"/api/v1/users/{ws.agent_ids[0]}/deactivate", ws.token
        )
        assert (status, user["active"]) == (200, False)
    async with hub.engine.connect() as conn:
        deactivations = await conn.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "user.deactivated")
        )
    assert deactivations == 1


async def test_the_command_line_deactivates_and_reactivates(
    hub: Hub, client: TestClient, database_url: str, tmp_path: Path
) -> None:
    ws = await seed_workspace(hub)
    ann = await user_with_password(hub, ws.id, ANN)
    done = run(database_url, "user", "deactivate", "--user", str(ann))
    assert done.returncode == 0, done.stderr
    assert (await sign_in_request(client, ANN))[0] == 401
    done = run(database_url, "user", "reactivate", "--user", str(ann))
    assert done.returncode == 0, done.stderr
    await sign_in(client, ANN)
    missing = run(database_url, "user", "deactivate", "--user", "999999")
    assert missing.returncode != 0
    assert "no user 999999" in missing.stderr
