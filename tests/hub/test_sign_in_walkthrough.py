"""Issue 16's walk-through, as one user lives it: an admin adds them, they sign in with a
password and a TOTP code on two devices, see both sessions, end the other one, and the ended
session's next request is refused."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from hub.context import Hub
from tests.conftest import bearer
from tests.hub.signing_in import PASSWORD, enrol, next_code, sign_in, sign_in_request
from tests.workspace import seed_workspace


async def test_a_new_user_signs_in_with_totp_sees_their_sessions_and_ends_the_other(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    added = await client.post(
        "/api/v1/users",
        json={"email": "new@acme.test", "name": "New", "role": "agent", "password": PASSWORD},
        headers=bearer(ws.token),
    )
    assert added.status == 201, await added.text()
    first = await sign_in(client, "new@acme.test", headers={"User-Agent": "Firefox on a laptop"})
    totp, _, first = await enrol(client, first)

    status, body, _ = await sign_in_request(client, "new@acme.test")
    assert (status, body["error"]["code"]) == (401, "two_factor_required")
    phone = await sign_in(
        client,
        "new@acme.test",
        totp_code=next_code(totp),
        headers={"User-Agent": "Safari on a phone"},
    )

    listed = await client.get("/api/v1/sessions", headers=first.headers())
    assert listed.status == 200
    sessions = {item["id"]: item for item in (await listed.json())["items"]}
    assert set(sessions) == {first.session_id, phone.session_id}
    assert sessions[first.session_id]["current"] is True
    assert sessions[phone.session_id]["device"] == "Safari on a phone"
    assert all(item["address"] and item["started_at"] for item in sessions.values())

    ended = await client.delete(f"/api/v1/sessions/{phone.session_id}", headers=first.headers())
    assert ended.status == 200
    assert (await client.get("/api/v1/customers", headers=phone.headers())).status == 401
    assert (await client.get("/api/v1/customers", headers=first.headers())).status == 200
