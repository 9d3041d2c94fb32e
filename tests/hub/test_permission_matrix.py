"""The permission matrix, generated from the policy and checked against the served API: every
built-in role x every operation of the OpenAPI document (its x-permission, and the record rules
on a colleague's conversation), and every role x every protected field x every route that shows
customers (list, get, search, timeline, field history, export, the stream)."""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from hub.context import Hub
from hub.provisioning import create_api_token, create_user
from hub.publishing import change
from hub.teams import create_team
from tests.conftest import bearer
from tests.timeline.conversation_helpers import admin, text
from tests.workspace import SeededWorkspace, seed_workspace
from timeline.actor import Actor
from timeline.conversation_service import ReplyDraft
from timeline.customer_fields import define_field, set_values
from timeline.models import Identity, Role
from timeline.policy import (
    BUILT_IN_ROLES,
    Holding,
    Permission,
    act_refusal,
    assign_refusal,
    availability_refusal,
    sees_identity_kind,
    transfer_refusal,
    visible_event_meta,
)

PHONE = "+14155550123"
EMAIL = "jo@example.com"
SECRET = "diagnosis: confidential"
_numbers = itertools.count(100)
CONFIRM_WRONG_CODE = 422  # "wrong code, or no enrolment started"
CHANGE_WRONG_PASSWORD = 422  # "this is not your current password"
RESET_BOGUS_TOKEN = 422  # "this reset link is unknown, used or expired"
TWO_FACTOR_OFF = 409  # `not_enrolled`: the matrix's users have no two-factor to change


@dataclass(slots=True)
class World:
    hub: Hub
    ws: SeededWorkspace
    colleague: int
    """An agent who holds the conversations the roles try to act on."""
    users: dict[str, int]
    tokens: dict[str, str]
    customer_id: int
    event_id: int
    message_id: int
    team_id: int

    def actor(self, role: str) -> Actor:
        return Actor(self.ws.id, self.users[role], BUILT_IN_ROLES[role])

    async def colleagues_conversation(self) -> int:
        """A conversation of a new customer, held by the colleague."""
        conversation_id = await text(
            self.hub, self.ws, f"+1415555{next(_numbers):04d}", f"SM{next(_numbers)}"
        )
        async with self.hub.engine.begin() as conn:
            await self.hub.conversations.assign(
                conn, admin(self.ws), conversation_id, self.colleague
            )
        return conversation_id


async def _world(hub: Hub) -> World:
    ws = await seed_workspace(hub, agents=1)
    (colleague,) = ws.agent_ids
    users = {Role.ADMIN.value: ws.admin_id}
    tokens = {Role.ADMIN.value: ws.token}
    async with hub.engine.begin() as conn:
        for role in BUILT_IN_ROLES:
            if role != Role.ADMIN:
                users[role] = await create_user(
                    conn, ws.id, email=f"{role}@acme.test", name=role, role=role
                )
                tokens[role] = (await create_api_token(conn, hub.token_key, users[role])).token
        await define_field(conn, admin(ws), "tier", sensitive=False)
        await define_field(conn, admin(ws), "health", sensitive=True)
    world = World(hub, ws, colleague, users, tokens, 0, 0, 0, 0)
    conversation_id = await text(hub, ws, PHONE, "SM1")
    async with hub.engine.begin() as conn:
        state = await hub.conversations.assign(conn, admin(ws), conversation_id, colleague)
        world.customer_id = state.conversation.customer_id
        await conn.execute(
            Identity.__table__.insert(),
            {"workspace_id": ws.id, "customer_id": world.customer_id, "kind": "email",
             "value": EMAIL},
        )  # fmt: skip
        noted = await hub.conversations.note(conn, admin(ws), conversation_id, "a note")
        world.event_id = noted.event_id
        team = await _create_team(conn, ws.id, [users[Role.AGENT]])
        world.team_id = team
    async with change(hub) as changing:
        values = {"tier": "gold", "health": SECRET}
        changing.caused(await set_values(changing.conn, admin(ws), world.customer_id, values))
    channel = await hub.channels.get(ws.sms_channel_id)
    async with hub.engine.begin() as conn:
        replied = await hub.conversations.reply(
            conn, admin(ws), conversation_id, ReplyDraft("hello"), channel.adapter.capabilities
        )
    world.message_id = replied.message_id
    return world


async def _create_team(conn: Any, workspace_id: int, members: list[int]) -> int:
    return (await create_team(conn, workspace_id, "Support", members)).id


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    body: dict[str, Any] | None = None
    refusal: Callable[[Actor], object] | None = None
    """The record rule that decides this cell beyond the operation's permission."""
    succeeds_with: int = 200


Build = Callable[[World, str], Awaitable[Request]]


def _fixed(path: str, body: dict[str, Any] | None = None, status: int = 200) -> Build:
    async def build(world: World, role: str) -> Request:
        return Request(path.format(**_ids(world)), body, succeeds_with=status)

    return build


def _ids(world: World) -> dict[str, int]:
    return {
        "customer_id": world.customer_id,
        "event_id": world.event_id,
        "message_id": world.message_id,
        "team_id": world.team_id,
        "colleague": world.colleague,
        "channel_id": world.ws.sms_channel_id,
    }


def _on_colleagues(
    action: str, body: Callable[[World, str], dict[str, Any]] | None = None
) -> Build:
    """An action on a new conversation the colleague holds: the record rules decide."""

    async def build(world: World, role: str) -> Request:
        conversation_id = await world.colleagues_conversation()
        holding = Holding(world.colleague, None)
        payload = body(world, role) if body else None
        if action == "assign":
            agent_id = payload["agent_id"] if payload else None

            def refusal(actor: Actor) -> object:
                return assign_refusal(actor, holding, (), agent_id)
        elif action == "transfer":

            def refusal(actor: Actor) -> object:
                return transfer_refusal(actor, holding, ())
        else:

            def refusal(actor: Actor) -> object:
                return act_refusal(actor, holding, ())

        status = 202 if action == "replies" else 201 if action == "notes" else 200
        return Request(
            f"/api/v1/conversations/{conversation_id}/{action}", payload, refusal, status
        )

    return build


async def _availability(world: World, role: str) -> Request:
    return Request(
        f"/api/v1/agents/{world.colleague}/availability",
        {"availability": "away"},
        lambda actor: availability_refusal(actor, world.colleague),
    )


async def _own_token(world: World, role: str) -> Request:
    """Revoking a token of one's own (not the one calling)."""
    async with world.hub.engine.begin() as conn:
        spare = await create_api_token(conn, world.hub.token_key, world.users[role], "spare")
    return Request(f"/api/v1/tokens/{spare.id}")


def _unique(make: Callable[[int], dict[str, Any]], status: int = 201) -> Callable[[str], Build]:
    def for_path(path: str) -> Build:
        async def build(world: World, role: str) -> Request:
            return Request(path, make(next(_numbers)), succeeds_with=status)

        return build

    return for_path


OPERATIONS: dict[tuple[str, str], Build] = {
    ("get", "/api/v1/customers"): _fixed("/api/v1/customers"),
    ("get", "/api/v1/customers/{customer_id}"): _fixed("/api/v1/customers/{customer_id}"),
    ("get", "/api/v1/customers/{customer_id}/timeline"): _fixed(
        "/api/v1/customers/{customer_id}/timeline"
    ),
    ("get", "/api/v1/customers/{customer_id}/history"): _fixed(
        "/api/v1/customers/{customer_id}/history"
    ),
    ("put", "/api/v1/customers/{customer_id}/fields"): _fixed(
        "/api/v1/customers/{customer_id}/fields", {"fields": {"tier": "silver"}}
    ),
    ("post", "/api/v1/customers/{customer_id}/link-token"): _fixed(
        "/api/v1/customers/{customer_id}/link-token", status=201
    ),
    ("get", "/api/v1/customers/export"): _fixed("/api/v1/customers/export"),
    ("get", "/api/v1/custom-fields"): _fixed("/api/v1/custom-fields"),
    ("post", "/api/v1/custom-fields"): _unique(lambda n: {"name": f"f{n}"})(
        "/api/v1/custom-fields"
    ),
    ("get", "/api/v1/conversations"): _fixed("/api/v1/conversations"),
    ("get", "/api/v1/conversations/{conversation_id}"): _fixed("/api/v1/conversations/1"),
    ("get", "/api/v1/conversations/{conversation_id}/history"): _fixed(
        "/api/v1/conversations/1/history"
    ),
    ("post", "/api/v1/conversations/{conversation_id}/replies"): _on_colleagues(
        "replies", lambda w, r: {"body": "hi"}
    ),
    ("post", "/api/v1/conversations/{conversation_id}/notes"): _on_colleagues(
        "notes", lambda w, r: {"body": "hi"}
    ),
    ("post", "/api/v1/conversations/{conversation_id}/assign"): _on_colleagues(
        "assign", lambda w, r: {"agent_id": w.users[r]}
    ),
    ("post", "/api/v1/conversations/{conversation_id}/transfer"): _on_colleagues(
        "transfer", lambda w, r: {"team_id": None}
    ),
    ("post", "/api/v1/conversations/{conversation_id}/resolve"): _on_colleagues("resolve"),
    ("post", "/api/v1/conversations/{conversation_id}/reopen"): _on_colleagues("reopen"),
    ("post", "/api/v1/conversations/{conversation_id}/snooze"): _on_colleagues(
        "snooze", lambda w, r: {"until": "2040-01-31T09:00:00Z"}
    ),
    ("post", "/api/v1/conversations/{conversation_id}/pending"): _on_colleagues("pending"),
    # Each item answers on its own (tests/hub/test_bulk_actions.py): the call itself is 200.
    ("post", "/api/v1/conversations/bulk"): _fixed(
        "/api/v1/conversations/bulk", {"action": "resolve", "ids": [1]}
    ),
    ("get", "/api/v1/agents"): _fixed("/api/v1/agents"),
    ("put", "/api/v1/agents/{agent_id}/availability"): _availability,
    ("get", "/api/v1/teams"): _fixed("/api/v1/teams"),
    ("post", "/api/v1/teams"): _unique(lambda n: {"name": f"Team {n}"})("/api/v1/teams"),
    ("put", "/api/v1/teams/{team_id}/members"): _fixed(
        "/api/v1/teams/{team_id}/members", {"member_ids": []}
    ),
    ("get", "/api/v1/users"): _fixed("/api/v1/users"),
    ("post", "/api/v1/users"): _unique(
        lambda n: {"email": f"u{n}@acme.test", "name": "U", "role": "agent"}
    )("/api/v1/users"),
    ("put", "/api/v1/users/{user_id}/role"): _fixed(
        "/api/v1/users/{colleague}/role", {"role": "agent"}
    ),
    ("get", "/api/v1/roles"): _fixed("/api/v1/roles"),
    ("post", "/api/v1/roles"): _unique(
        lambda n: {"name": f"role{n}", "permissions": ["customers.read"]}
    )("/api/v1/roles"),
    ("get", "/api/v1/channels"): _fixed("/api/v1/channels"),
    ("get", "/api/v1/channels/{channel_id}"): _fixed("/api/v1/channels/{channel_id}"),
    ("post", "/api/v1/channels"): _unique(
        lambda n: {
            "kind": "sms",
            "name": f"SMS {n}",
            "address": "+15005550006",
            "credentials": {"account_sid": f"AC{n}", "auth_token": "a token"},
            "provider_base_url": "http://127.0.0.1:9",
            "check": False,
        }
    )("/api/v1/channels"),
    ("patch", "/api/v1/channels/{channel_id}"): _fixed(
        "/api/v1/channels/{channel_id}", {"name": "SMS"}
    ),
    ("get", "/api/v1/messages/{message_id}"): _fixed("/api/v1/messages/{message_id}"),
    # The note has no attachment: a role that may read gets past the permission to 404.
    ("get", "/api/v1/events/{event_id}/attachments/{attachment}"): _fixed(
        "/api/v1/events/{event_id}/attachments/0", status=404
    ),
    ("get", "/api/v1/audit"): _fixed("/api/v1/audit"),
    ("get", "/api/v1/tokens"): _fixed("/api/v1/tokens"),
    ("post", "/api/v1/tokens"): _unique(lambda n: {"name": f"token {n}"})("/api/v1/tokens"),
    ("delete", "/api/v1/tokens/{token_id}"): _own_token,
    # Signing in and one's own account: every role may; the answers are the endpoints' own.
    ("post", "/api/v1/session"): _fixed(
        "/api/v1/session", {"email": "nobody@acme.test", "password": "not a password"}, 401
    ),
    ("get", "/api/v1/session"): _fixed("/api/v1/session"),
    ("delete", "/api/v1/session"): _fixed("/api/v1/session"),
    ("get", "/api/v1/sessions"): _fixed("/api/v1/sessions"),
    ("delete", "/api/v1/sessions/{session_id}"): _fixed("/api/v1/sessions/999999", status=404),
    ("post", "/api/v1/session/end-others"): _fixed("/api/v1/session/end-others"),
    ("post", "/api/v1/two-factor"): _fixed("/api/v1/two-factor", status=201),
    ("post", "/api/v1/two-factor/confirm"): _fixed(
        "/api/v1/two-factor/confirm", {"code": "000000"}, CONFIRM_WRONG_CODE
    ),
    ("post", "/api/v1/two-factor/disable"): _fixed(
        "/api/v1/two-factor/disable", {"password": "not it", "totp_code": "000000"}, TWO_FACTOR_OFF
    ),
    ("post", "/api/v1/two-factor/recovery-codes"): _fixed(
        "/api/v1/two-factor/recovery-codes", {"code": "000000"}, TWO_FACTOR_OFF
    ),
    ("delete", "/api/v1/users/{user_id}/two-factor"): _fixed(
        "/api/v1/users/{colleague}/two-factor", status=TWO_FACTOR_OFF
    ),
    # A user no test depends on is not there: a role that may manage users gets past to 404.
    ("post", "/api/v1/users/{user_id}/deactivate"): _fixed(
        "/api/v1/users/999999/deactivate", status=404
    ),
    ("post", "/api/v1/users/{user_id}/reactivate"): _fixed(
        "/api/v1/users/999999/reactivate", status=404
    ),
    ("put", "/api/v1/password"): _fixed(
        "/api/v1/password",
        {"current_password": "not it", "new_password": "a new password"},
        CHANGE_WRONG_PASSWORD,
    ),
    ("put", "/api/v1/users/{user_id}/password"): _fixed(
        "/api/v1/users/{colleague}/password", {"password": "temporary pass"}
    ),
    ("put", "/api/v1/workspace/two-factor-roles"): _fixed(
        "/api/v1/workspace/two-factor-roles", {"roles": []}
    ),
    ("post", "/api/v1/password-reset"): _unique(lambda n: {"email": f"nobody{n}@acme.test"}, 202)(
        "/api/v1/password-reset"
    ),
    ("post", "/api/v1/password-reset/complete"): _fixed(
        "/api/v1/password-reset/complete",
        {"token": "bogus", "new_password": "a new password"},
        RESET_BOGUS_TOKEN,
    ),
    # Without the WebSocket upgrade: a role that may stream gets past the permission to 426.
    ("get", "/api/v1/stream"): _fixed("/api/v1/stream", status=426),
}


async def test_every_role_meets_every_operation_as_the_policy_says(
    hub: Hub, client: TestClient
) -> None:
    world = await _world(hub)
    document = await (await client.get("/api/v1/openapi.json")).json()
    documented = {
        (method, path): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert set(documented) == set(OPERATIONS), "give every documented operation a request here"
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for (method, template), operation in sorted(documented.items()):
        assert "x-permission" in operation, f"{method} {template} declares no permission"
        needed = operation["x-permission"]
        for role in BUILT_IN_ROLES:
            request = await OPERATIONS[(method, template)](world, role)
            refused = needed is not None and Permission(needed) not in BUILT_IN_ROLES[role]
            if not refused and request.refusal is not None:
                refused = request.refusal(world.actor(role)) is not None
            response = await client.request(
                method, request.path, json=request.body, headers=bearer(world.tokens[role])
            )
            expected = 403 if refused else request.succeeds_with
            assert response.status == expected, (role, method, template, await response.text())
            why = f" `{(await response.json())['error']['code']}`" if refused else ""
            cells.setdefault((method, template), {})[role] = f"{response.status}{why}"
    shown = _matrix(documented, cells)
    if os.environ.get("SWITCHBOARD_WRITE_MATRIX") == "1":
        MATRIX.write_text(shown)
    assert MATRIX.read_text() == shown, (
        f"{MATRIX} shows other answers: SWITCHBOARD_WRITE_MATRIX=1 pytest {__file__}"
    )


MATRIX = Path(__file__).resolve().parents[2] / "docs" / "api" / "permission-matrix.md"


def _matrix(documented: dict[tuple[str, str], Any], cells: dict[tuple[str, str], Any]) -> str:
    """Every cell as served: each operation's permission and each built-in role's status."""
    roles = list(BUILT_IN_ROLES)
    lines = [
        "# Permission matrix",
        "",
        "Every API operation as each built-in role met it in `tests/hub/test_permission_matrix.py`",
        "(which writes this page and fails when the served answers differ from it): 403 is a",
        "refusal, with its code: `missing_permission` (the operation's permission) or a record",
        "rule's (`not_yours`: the request acts on a conversation a colleague holds); other",
        "statuses are the operation's own answer to the test's request. The roles' permissions",
        "are in docs/architecture.md.",
        "",
        "| operation | permission | " + " | ".join(roles) + " |",
        "| --- | --- | " + " | ".join("---" for _ in roles) + " |",
    ]
    for (method, template), operation in sorted(
        documented.items(), key=lambda k: (k[0][1], k[0][0])
    ):
        permission = operation["x-permission"] or "any user"
        statuses = " | ".join(str(cells[(method, template)][role]) for role in roles)
        lines.append(f"| `{method.upper()} {template}` | {permission} | {statuses} |")
    return "\n".join(lines) + "\n"


async def _stream_messages(client: TestClient, token: str) -> list[dict[str, Any]]:
    """The workspace's whole log as the stream shows it to the token's role."""
    messages: list[dict[str, Any]] = []
    async with client.ws_connect("/api/v1/stream?last_event_id=0", headers=bearer(token)) as ws:
        while True:
            try:
                message = await ws.receive(timeout=1.0)
            except TimeoutError:
                return messages
            if message.type != WSMsgType.TEXT:
                return messages
            messages.append(json.loads(message.data))


async def test_every_role_sees_every_protected_field_only_as_the_policy_says(
    hub: Hub, client: TestClient
) -> None:
    world = await _world(hub)
    for role, permissions in BUILT_IN_ROLES.items():
        headers = bearer(world.tokens[role])
        listed = (await (await client.get("/api/v1/customers", headers=headers)).json())["items"]
        (customer,) = [c for c in listed if c["id"] == world.customer_id]
        path = f"/api/v1/customers/{world.customer_id}"
        one = await (await client.get(path, headers=headers)).json()
        timeline = await (await client.get(f"{path}/timeline", headers=headers)).json()
        history = await (await client.get(f"{path}/history", headers=headers)).json()
        exported = await (await client.get("/api/v1/customers/export", headers=headers)).text()
        stream = await _stream_messages(client, world.tokens[role])
        changes = [m["data"]["fields"] for m in stream if m["type"] == "customer.fields_changed"]
        for kind, value in (("phone", PHONE), ("email", EMAIL)):
            seen = sees_identity_kind(permissions, kind)
            for route, answer in (("list", customer), ("get", one)):
                shown = {i["value"] for i in answer["identities"] if i["kind"] == kind}
                assert (value in shown) == seen, (role, kind, route)
            found = await (
                await client.get("/api/v1/customers", params={"q": value}, headers=headers)
            ).json()
            assert bool(found["items"]) == seen, (role, kind, "search")
            shown_anywhere = value in json.dumps(stream) or value in json.dumps(timeline)
            assert not shown_anywhere or seen, (role, kind, "stream and timeline")
            if Permission.CUSTOMERS_EXPORT in permissions:
                assert (value in exported) == seen, (role, kind, "export")
                found_by_export = await client.get(
                    "/api/v1/customers/export", params={"q": value}, headers=headers
                )
                assert (str(world.customer_id) in await found_by_export.text()) == seen, (
                    role,
                    kind,
                    "export search",
                )
        senders = [event["meta"].get("sender") for event in timeline["items"]]
        expected_meta = visible_event_meta(permissions, {"sender": PHONE})
        assert (PHONE in senders) == ("sender" in expected_meta), (role, "timeline meta")
        sees_sensitive = Permission.CUSTOMERS_SENSITIVE_FIELDS in permissions
        for route, values in (("list", customer["attributes"]), ("get", one["attributes"])):
            assert values.get("tier") == "gold", (role, route)
            assert (values.get("health") == SECRET) == sees_sensitive, (role, "health", route)
        changed = {item["field"]: item["new"] for item in history["items"]}
        assert changed["field:tier"] == "gold", (role, "history")
        assert (changed.get("field:health") == SECRET) == sees_sensitive, (role, "history")
        if Permission.CUSTOMERS_EXPORT in permissions:
            assert "gold" in exported, (role, "export")
            assert (SECRET in exported) == sees_sensitive, (role, "health", "export")
        assert changes, (role, "stream")
        assert all(change.get("tier") == "gold" for change in changes), role
        assert any(change.get("health") == SECRET for change in changes) == sees_sensitive, (
            role,
            "health",
            "stream",
        )
