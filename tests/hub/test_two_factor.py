"""TOTP two-factor through the API: enrolment, codes that work once, recovery codes that work
once, and roles the workspace makes enrol before anything else."""

from __future__ import annotations

import pyotp
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.context import Hub
from tests.conftest import bearer
from tests.hub.signing_in import (
    Browser,
    enrol,
    next_code,
    sign_in,
    sign_in_request,
    user_with_password,
)
from tests.workspace import seed_workspace
from timeline.models import AuditEntry


async def test_a_totp_code_works_once(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    totp, _, _ = await enrol(client, await sign_in(client, "ann@acme.test"))

    status, body, cookie = await sign_in_request(client, "ann@acme.test")
    assert (status, body["error"]["code"], cookie) == (401, "two_factor_required", None)
    code = next_code(totp)
    await sign_in(client, "ann@acme.test", totp_code=code)
    status, body, _ = await sign_in_request(client, "ann@acme.test", totp_code=code)
    assert (status, body["error"]["code"]) == (401, "sign_in_failed")
    # The code spent at enrolment is of an earlier step: refused as well.
    status, _, _ = await sign_in_request(client, "ann@acme.test", totp_code=totp.now())
    assert status == 401


async def test_a_recovery_code_works_once(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    _, codes, _ = await enrol(client, await sign_in(client, "ann@acme.test"))
    assert len(codes) == len(set(codes)) == 10
    await sign_in(client, "ann@acme.test", recovery_code=codes[3].upper())
    status, _, _ = await sign_in_request(client, "ann@acme.test", recovery_code=codes[3])
    assert status == 401
    await sign_in(client, "ann@acme.test", recovery_code=codes[4])


async def test_enrolment_needs_the_right_first_code_and_is_audited(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    user_id = await user_with_password(hub, ws.id, "ann@acme.test")
    browser = await sign_in(client, "ann@acme.test")
    started = await (await client.post("/api/v1/two-factor", headers=browser.headers())).json()
    wrong = str((int(pyotp.TOTP(started["secret"]).now()) + 1) % 1_000_000).zfill(6)
    response = await client.post(
        "/api/v1/two-factor/confirm", json={"code": wrong}, headers=browser.headers()
    )
    assert response.status == 422
    # Not enrolled: the password alone still signs in.
    await sign_in(client, "ann@acme.test")
    await enrol(client, browser)
    again = await client.post("/api/v1/two-factor", headers=bearer(ws.token))
    assert again.status == 201  # the admin (token) has none yet
    async with hub.engine.connect() as conn:
        enrolled = await conn.execute(
            select(AuditEntry.entity_id).where(AuditEntry.action == "user.two_factor_enrolled")
        )
        assert list(enrolled.scalars()) == [str(user_id)]


async def test_a_role_that_requires_two_factor_can_only_enrol_first(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    response = await client.put(
        "/api/v1/workspace/two-factor-roles", json={"roles": ["agent"]}, headers=bearer(ws.token)
    )
    assert (await response.json()) == {"roles": ["agent"]}
    status, body, cookie = await sign_in_request(client, "ann@acme.test")
    assert (status, body["enrolling"]) == (201, True)
    enrolling = Browser(cookie or "", body["csrf_token"], body["session_id"])
    refused = await client.get("/api/v1/customers", headers=enrolling.headers())
    assert (await refused.json())["error"]["code"] == "two_factor_enrolment_required"
    assert (await client.get("/api/v1/session", headers=enrolling.headers())).status == 200

    _, _, full = await enrol(client, enrolling)
    assert full.cookie != enrolling.cookie  # privileges changed: a new session id
    assert (await client.get("/api/v1/customers", headers=full.headers())).status == 200
    assert (await client.get("/api/v1/customers", headers=enrolling.headers())).status == 401


async def test_only_admins_choose_the_roles(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    ann = await sign_in(client, "ann@acme.test")
    response = await client.put(
        "/api/v1/workspace/two-factor-roles", json={"roles": []}, headers=ann.headers()
    )
    assert response.status == 403
