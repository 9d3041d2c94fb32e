"""Sign-in by password and cookie sessions through the API: the cookie's flags, CSRF, listing and
ending sessions, expiry, renewal, and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from hub.auth import hash_password
from hub.callers import web_origin
from hub.context import Hub
from hub.models import UserSession
from hub.sessions import SESSION_COOKIE
from tests.conftest import OpenApiChecker, bearer
from tests.hub.signing_in import PASSWORD, sign_in, sign_in_request, user_with_password
from tests.workspace import seed_workspace
from timeline.models import AuditEntry, Role, User


async def test_a_password_signs_in_with_a_hardened_cookie(
    hub: Hub, client: TestClient, openapi: OpenApiChecker
) -> None:
    ws = await seed_workspace(hub)
    user_id = await user_with_password(hub, ws.id, "ann@acme.test")
    response = await client.post(
        "/api/v1/session",
        json={"email": " Ann@Acme.test", "password": PASSWORD},
        headers={"User-Agent": "Firefox/140"},
    )
    body = await response.json()
    assert response.status == 201, body
    openapi.check("POST", "/api/v1/session", 201, body)
    assert (body["user_id"], body["workspace_id"], body["role"]) == (user_id, ws.id, "agent")
    header = response.headers["Set-Cookie"]
    assert header.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Secure" not in header  # the test hub's base URL is http://
    client.session.cookie_jar.clear()
    cookie = response.cookies[SESSION_COOKIE].value
    me = await client.get("/api/v1/session", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert me.status == 200
    assert (await me.json())["csrf_token"] == body["csrf_token"]
    listed = await client.get("/api/v1/sessions", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    items = (await listed.json())["items"]
    openapi.check("GET", "/api/v1/sessions", 200, {"items": items})
    assert [(i["device"], i["current"]) for i in items] == [("Firefox/140", True)]


async def test_a_wrong_password_or_unknown_email_is_refused_and_audited(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    user_id = await user_with_password(hub, ws.id, "ann@acme.test")
    assert (await sign_in_request(client, "ann@acme.test", "wrong password"))[0] == 401
    assert (await sign_in_request(client, "nobody@acme.test"))[0] == 401
    await sign_in(client, "ann@acme.test")
    async with hub.engine.connect() as conn:
        actions = (
            await conn.execute(
                select(AuditEntry.action)
                .where(AuditEntry.entity_type == "user", AuditEntry.entity_id == str(user_id))
                .order_by(AuditEntry.id)
            )
        ).scalars()
        assert list(actions) == ["user.created", "user.sign_in_failed", "user.signed_in"]


async def test_the_session_id_differs_before_and_after_sign_in(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    before = await sign_in(client, "ann@acme.test")
    status, _, after = await sign_in_request(
        client, "ann@acme.test", headers={"Cookie": f"{SESSION_COOKIE}={before.cookie}"}
    )
    assert status == 201 and after is not None and after != before.cookie
    # The session the request carried ended with the sign-in: its cookie names nothing now.
    assert (await client.get("/api/v1/session", headers=before.headers())).status == 401
    assert (
        await client.get("/api/v1/session", headers={"Cookie": f"{SESSION_COOKIE}={after}"})
    ).status == 200


async def test_a_cookie_request_that_changes_state_needs_its_csrf_token(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    browser = await sign_in(client, "ann@acme.test")
    other = await sign_in(client, "ann@acme.test")
    refused = [
        browser.headers(csrf=False),
        {**browser.headers(), "X-CSRF-Token": "0" * 64},
        {**browser.headers(), "X-CSRF-Token": other.csrf_token},
        {**browser.headers(), "X-CSRF-Token": "é"},
    ]
    for headers in refused:
        response = await client.post("/api/v1/session/end-others", headers=headers)
        assert response.status == 403
        assert (await response.json())["error"]["code"] == "csrf"
    # Nothing was ended by the refused requests: the other session still works.
    assert (await client.get("/api/v1/session", headers=other.headers())).status == 200
    response = await client.post("/api/v1/session/end-others", headers=browser.headers())
    assert (await response.json()) == {"ended": [other.session_id]}
    # A bearer token needs no CSRF token.
    response = await client.post("/api/v1/session/end-others", headers=bearer(ws.token))
    assert response.status == 200


async def test_a_cookie_request_from_another_site_is_refused_the_stream_s_included(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    browser = await sign_in(client, "ann@acme.test")
    ours = hub.settings.base_url
    for origin in ("https://evil.example", "http://evil.hub.test", f"{ours}:8443", "null"):
        response = await client.get(
            "/api/v1/customers", headers={**browser.headers(), "Origin": origin}
        )
        assert response.status == 403, origin
        assert (await response.json())["error"]["code"] == "cross_origin"
        with pytest.raises(WSServerHandshakeError) as refused:
            await client.ws_connect(
                "/api/v1/stream", headers={**browser.headers(), "Origin": origin}
            )
        assert refused.value.status == 403
    for headers in ({"Origin": ours}, {"Origin": ours.upper() + "/"}, {}):
        response = await client.get("/api/v1/customers", headers={**browser.headers(), **headers})
        assert response.status == 200
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/api/v1/stream", headers=browser.headers())
    assert refused.value.status == 403  # a browser's handshake always says where it comes from
    socket = await client.ws_connect(
        "/api/v1/stream", headers={**browser.headers(), "Origin": ours}
    )
    await socket.close()
    # A bearer token is not a browser's ambient credential: no origin asked.
    headers = {**bearer(ws.token), "Origin": "https://evil.example"}
    assert (await client.get("/api/v1/customers", headers=headers)).status == 200


def test_an_origin_is_written_as_browsers_write_it() -> None:
    assert web_origin("https://Hub.Example.com:443/inbox") == "https://hub.example.com"
    assert web_origin("http://hub.example.com:8080") == "http://hub.example.com:8080"


async def test_a_stolen_cookie_is_dead_after_end_others_and_after_sign_out(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    mine = await sign_in(client, "ann@acme.test")
    stolen = await sign_in(client, "ann@acme.test")
    assert (await client.get("/api/v1/customers", headers=stolen.headers())).status == 200
    await client.post("/api/v1/session/end-others", headers=mine.headers())
    assert (await client.get("/api/v1/customers", headers=stolen.headers())).status == 401
    assert (await client.get("/api/v1/customers", headers=mine.headers())).status == 200

    response = await client.delete("/api/v1/session", headers=mine.headers())
    assert response.status == 200
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert (await client.get("/api/v1/customers", headers=mine.headers())).status == 401
    # Signing out with a token ends no session (revoking the token is another matter).
    response = await client.delete("/api/v1/session", headers=bearer(ws.token))
    assert (response.status, await response.json()) == (200, {"ended": []})


async def test_users_end_their_own_sessions_and_admins_anyones(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    bob_id = await user_with_password(hub, ws.id, "bob@acme.test")
    await user_with_password(hub, ws.id, "boss@acme.test", role=Role.ADMIN)
    ann = await sign_in(client, "ann@acme.test")
    bob = await sign_in(client, "bob@acme.test")
    boss = await sign_in(client, "boss@acme.test")
    path = f"/api/v1/sessions/{bob.session_id}"
    assert (await client.delete(path, headers=ann.headers())).status == 404
    params = {"user_id": str(bob_id)}
    assert (
        await client.get("/api/v1/sessions", params=params, headers=ann.headers())
    ).status == 403
    listed = await client.get("/api/v1/sessions", params=params, headers=boss.headers())
    assert [item["id"] for item in (await listed.json())["items"]] == [bob.session_id]
    assert (await client.get("/api/v1/session", headers=bob.headers())).status == 200
    assert (await client.delete(path, headers=boss.headers())).status == 200
    assert (await client.get("/api/v1/session", headers=bob.headers())).status == 401


async def test_an_expired_session_is_refused(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    idle = await sign_in(client, "ann@acme.test")
    old = await sign_in(client, "ann@acme.test")
    fresh = await sign_in(client, "ann@acme.test")
    limits = hub.settings.sign_in
    now = datetime.now(UTC)
    async with hub.engine.begin() as conn:
        await conn.execute(
            update(UserSession)
            .where(UserSession.id == idle.session_id)
            .values(last_seen_at=now - timedelta(seconds=limits.idle_seconds + 1))
        )
        await conn.execute(
            update(UserSession)
            .where(UserSession.id == old.session_id)
            .values(started_at=now - timedelta(seconds=limits.absolute_seconds + 1))
        )
    assert (await client.get("/api/v1/session", headers=idle.headers())).status == 401
    assert (await client.get("/api/v1/session", headers=old.headers())).status == 401
    assert (await client.get("/api/v1/session", headers=fresh.headers())).status == 200


async def test_last_seen_is_written_at_most_once_a_minute(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    browser = await sign_in(client, "ann@acme.test")
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    recently = datetime.now(UTC) - timedelta(seconds=20)
    for then, moved in ((recently, False), (long_ago, True)):
        async with hub.engine.begin() as conn:
            await conn.execute(
                update(UserSession)
                .where(UserSession.id == browser.session_id)
                .values(last_seen_at=then)
            )
        assert (await client.get("/api/v1/session", headers=browser.headers())).status == 200
        async with hub.engine.connect() as conn:
            seen = (
                await conn.execute(
                    select(UserSession.last_seen_at).where(UserSession.id == browser.session_id)
                )
            ).scalar_one()
        assert (seen != then) is moved


async def test_a_password_change_ends_the_users_other_sessions(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    mine = await sign_in(client, "ann@acme.test")
    other = await sign_in(client, "ann@acme.test")
    wrong = await client.put(
        "/api/v1/password",
        json={"current_password": "not it at all", "new_password": "a new long password"},
        headers=mine.headers(),
    )
    assert wrong.status == 422
    response = await client.put(
        "/api/v1/password",
        json={"current_password": PASSWORD, "new_password": "a new long password"},
        headers=mine.headers(),
    )
    assert (await response.json()) == {"ended": [other.session_id]}
    assert (await client.get("/api/v1/session", headers=other.headers())).status == 401
    assert (await client.get("/api/v1/session", headers=mine.headers())).status == 200
    assert (await sign_in_request(client, "ann@acme.test"))[0] == 401
    await sign_in(client, "ann@acme.test", "a new long password")


async def test_an_admin_sets_a_temporary_password_and_ends_every_session(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    ann_id = await user_with_password(hub, ws.id, "ann@acme.test")
    ann = await sign_in(client, "ann@acme.test")
    body = {"password": "temporary password 1"}
    path = f"/api/v1/users/{ann_id}/password"
    assert (await client.put(path, json=body, headers=ann.headers())).status == 403
    response = await client.put(path, json=body, headers=bearer(ws.token))
    assert (await response.json()) == {"ended": [ann.session_id]}
    assert (await client.get("/api/v1/session", headers=ann.headers())).status == 401
    await sign_in(client, "ann@acme.test", "temporary password 1")


async def test_a_hash_of_old_parameters_is_rehashed_at_sign_in(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    user_id = await user_with_password(hub, ws.id, "ann@acme.test")
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    async with hub.engine.begin() as conn:
        await conn.execute(update(User).where(User.id == user_id).values(password_hash=weak))
    await sign_in(client, "ann@acme.test")
    async with hub.engine.connect() as conn:
        stored = (
            await conn.execute(select(User.password_hash).where(User.id == user_id))
        ).scalar_one()
    assert stored != weak
    assert (
        stored.split("$")[3] == (await hash_password(PASSWORD)).split("$")[3]
    )  # today's parameters


async def test_an_email_of_several_workspaces_signs_in_where_its_password_matches(
    hub: Hub, client: TestClient
) -> None:
    acme = await seed_workspace(hub)
    other = await seed_workspace(hub, name="Other")
    await user_with_password(hub, acme.id, "ann@x.test")
    await user_with_password(hub, other.id, "ann@x.test", password="another password")
    status, body, _ = await sign_in_request(client, "ann@x.test", "another password")
    assert (status, body["workspace_id"]) == (201, other.id)
    await user_with_password(hub, other.id, "bea@x.test")
    await user_with_password(hub, acme.id, "bea@x.test")
    status, body, _ = await sign_in_request(client, "bea@x.test")
    assert (status, body["error"]["fields"].keys()) == (422, {"workspace_id"})
    status, body, _ = await sign_in_request(client, "bea@x.test", workspace_id=acme.id)
    assert (status, body["workspace_id"]) == (201, acme.id)
