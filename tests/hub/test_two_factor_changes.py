"""Two-factor after enrolment through the API: turned off by its user (password and a code, not
when their role requires it), new recovery codes, an admin's reset, and custom roles that
require it."""

from __future__ import annotations

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.context import Hub
from tests.conftest import bearer
from tests.hub.signing_in import (
    PASSWORD,
    Browser,
    enrol,
    next_code,
    sign_in,
    sign_in_request,
    user_with_password,
)
from tests.workspace import seed_workspace
from timeline.models import AuditEntry


async def _audited(hub: Hub, action: str) -> list[tuple[int | None, str | None]]:
    """(actor, target user) of each audit entry of the action."""
    async with hub.engine.connect() as conn:
        rows = await conn.execute(
            select(AuditEntry.actor_user_id, AuditEntry.entity_id)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        return [tuple(row) for row in rows]


async def _put_roles(client: TestClient, token: str, roles: list[str]) -> tuple[int, dict]:
    response = await client.put(
        "/api/v1/workspace/two-factor-roles", json={"roles": roles}, headers=bearer(token)
    )
    return response.status, await response.json()


async def test_a_user_turns_two_factor_off_with_password_and_code(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    user_id = await user_with_password(hub, ws.id, "ann@acme.test")
    totp, codes, browser = await enrol(client, await sign_in(client, "ann@acme.test"))
    other = await sign_in(client, "ann@acme.test", recovery_code=codes[0])

    async def turn_off(body: dict[str, str], headers: dict[str, str] | None = None) -> int:
        response = await client.post(
            "/api/v1/two-factor/disable", json=body, headers=headers or browser.headers()
        )
        return response.status

    code = next_code(totp)
    assert await turn_off({"password": "not my password", "totp_code": code}) == 422
    assert await turn_off({"password": PASSWORD}) == 422
    assert await turn_off({"password": PASSWORD, "recovery_code": codes[0]}) == 422  # spent
    assert await turn_off({"totp_code": code}) == 422
    assert await turn_off({"password": PASSWORD, "totp_code": code},
                          browser.headers(csrf=False)) == 403  # fmt: skip
    response = await client.post(
        "/api/v1/two-factor/disable",
        json={"password": PASSWORD, "totp_code": code},
        headers=browser.headers(),
    )
    assert (response.status, await response.json()) == (200, {"ended": [other.session_id]})
    assert (await client.get("/api/v1/session", headers=other.headers())).status == 401
    assert (await client.get("/api/v1/session", headers=browser.headers())).status == 200
    assert await _audited(hub, "two_factor.disabled") == [(user_id, str(user_id))]
    # Off: the password alone signs in, and there is nothing left to turn off.
    await sign_in(client, "ann@acme.test")
    assert await turn_off({"password": PASSWORD, "totp_code": code}) == 409


async def test_a_recovery_code_turns_two_factor_off(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    _, codes, browser = await enrol(client, await sign_in(client, "ann@acme.test"))
    response = await client.post(
        "/api/v1/two-factor/disable",
        json={"password": PASSWORD, "recovery_code": codes[5]},
        headers=browser.headers(),
    )
    assert response.status == 200
    status, body, _ = await sign_in_request(client, "ann@acme.test")
    assert (status, body["enrolling"]) == (201, False)


async def test_a_role_that_requires_two_factor_cannot_turn_it_off(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    totp, _, browser = await enrol(client, await sign_in(client, "ann@acme.test"))
    assert (await _put_roles(client, ws.token, ["agent"]))[0] == 200
    response = await client.post(
        "/api/v1/two-factor/disable",
        json={"password": PASSWORD, "totp_code": next_code(totp)},
        headers=browser.headers(),
    )
    body = await response.json()
    assert (response.status, body["error"]["code"]) == (409, "two_factor_required")
    assert "must sign in with two-factor" in body["error"]["message"]
    status, body, _ = await sign_in_request(client, "ann@acme.test")
    assert (status, body["error"]["code"]) == (401, "two_factor_required")


async def test_new_recovery_codes_replace_the_old_ones(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    user_id = await user_with_password(hub, ws.id, "ann@acme.test")
    totp, old, browser = await enrol(client, await sign_in(client, "ann@acme.test"))

    async def draw(code: str) -> tuple[int, dict]:
        response = await client.post(
            "/api/v1/two-factor/recovery-codes", json={"code": code}, headers=browser.headers()
        )
        return response.status, await response.json()

    assert (await draw(totp.now()))[0] == 422  # spent confirming the enrolment
    status, body = await draw(next_code(totp))
    assert status == 201
    new = body["recovery_codes"]
    assert len(set(new)) == 10 and not set(new) & set(old)
    status, _, _ = await sign_in_request(client, "ann@acme.test", recovery_code=old[1])
    assert status == 401
    await sign_in(client, "ann@acme.test", recovery_code=new[1])
    async with hub.engine.connect() as conn:
        stored = await conn.execute(select(AuditEntry.changes))
        assert not any(code in str(changes) for changes in stored.scalars() for code in new)
    assert await _audited(hub, "two_factor.recovery_regenerated") == [(user_id, str(user_id))]


async def test_recovery_codes_need_two_factor_on(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    browser = await sign_in(client, "ann@acme.test")
    response = await client.post(
        "/api/v1/two-factor/recovery-codes", json={"code": "123456"}, headers=browser.headers()
    )
    assert (response.status, (await response.json())["error"]["code"]) == (409, "not_enrolled")


async def test_an_admin_reset_ends_the_users_sessions_and_they_enrol_again(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    user_id = await user_with_password(hub, ws.id, "ann@acme.test")
    _, _, ann = await enrol(client, await sign_in(client, "ann@acme.test"))
    assert (await _put_roles(client, ws.token, ["agent"]))[0] == 200

    path = f"/api/v1/users/{user_id}/two-factor"
    refused = await client.delete(path, headers=ann.headers())
    assert refused.status == 403  # an agent manages no users
    response = await client.delete(path, headers=bearer(ws.token))
    assert (response.status, await response.json()) == (200, {"ended": [ann.session_id]})
    assert (await client.get("/api/v1/customers", headers=ann.headers())).status == 401
    assert await _audited(hub, "two_factor.reset") == [(ws.admin_id, str(user_id))]

    status, body, _ = await sign_in_request(client, "ann@acme.test")
    assert (status, body["enrolling"]) == (201, True)
    again = await client.delete(path, headers=bearer(ws.token))
    assert (again.status, (await again.json())["error"]["code"]) == (409, "not_enrolled")
    own = await client.delete(f"/api/v1/users/{ws.admin_id}/two-factor", headers=bearer(ws.token))
    assert (await own.json())["error"]["code"] == "own_two_factor"
    missing = await client.delete("/api/v1/users/999999/two-factor", headers=bearer(ws.token))
    assert missing.status == 404


async def test_custom_roles_may_require_two_factor(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    role = {"name": "auditor", "permissions": ["customers.read", "account.own"]}
    assert (await client.post("/api/v1/roles", json=role, headers=bearer(ws.token))).status == 201
    added = await client.post(
        "/api/v1/users",
        json={"email": "kim@acme.test", "name": "Kim", "role": "auditor",
              "password": PASSWORD},
        headers=bearer(ws.token),
    )  # fmt: skip
    assert added.status == 201

    status, body = await _put_roles(client, ws.token, ["auditor", "nosuchrole", "ghost"])
    assert (status, body["error"]["fields"]) == (
        422,
        {"roles": "no such role in this workspace: ghost, nosuchrole"},
    )
    status, body, _ = await sign_in_request(client, "kim@acme.test")
    assert (status, body["enrolling"]) == (201, False)

    assert await _put_roles(client, ws.token, ["auditor", "agent"]) == (
        200,
        {"roles": ["agent", "auditor"]},
    )
    status, body, cookie = await sign_in_request(client, "kim@acme.test")
    assert (status, body["enrolling"]) == (201, True)
    enrolling = Browser(cookie or "", body["csrf_token"], body["session_id"])
    refused = await client.get("/api/v1/customers", headers=enrolling.headers())
    assert (await refused.json())["error"]["code"] == "two_factor_enrolment_required"
