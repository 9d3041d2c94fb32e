"""/api/v1/stream answers to the caller's credential as it stands, not as it stood at connect:
a revoked or expired token, or an ended session, gets nothing more and is closed; a changed
role's field rules apply to what comes next."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from hub.api import stream as stream_module
from hub.context import Hub
from hub.models import ApiToken
from hub.provisioning import create_api_token
from tests.conftest import bearer
from tests.hub.signing_in import sign_in, user_with_password
from tests.workspace import SeededWorkspace, seed_workspace
from timeline.domain import DomainEvent
from timeline.event_log import record
from timeline.models import Role


@pytest.fixture(autouse=True)
def quick_catch_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stream reads the log this often without a publish (the events here are only logged)."""
    monkeypatch.setattr(stream_module, "CATCH_UP_SECONDS", 0.2)


async def _log(hub: Hub, ws: SeededWorkspace, type_: str, **data: object) -> None:
    async with hub.engine.begin() as conn:
        await record(conn, [DomainEvent(ws.id, type_, dict(data))])


async def _next(socket: ClientWebSocketResponse) -> tuple[WSMsgType, Any]:
    message = await socket.receive(timeout=5)
    return message.type, message.json() if message.type == WSMsgType.TEXT else message.data


async def _told_then_cut_off(
    client: TestClient,
    hub: Hub,
    ws: SeededWorkspace,
    headers: dict[str, str],
    end: Callable[[], Awaitable[None]],
) -> None:
    """The stream tells of an event, then `end` ends its credential: an event logged after
    that is never sent, and the stream closes with CREDENTIAL_ENDED."""
    async with client.ws_connect("/api/v1/stream", headers=headers) as socket:
        await _log(hub, ws, "test.before")
        kind, told = await _next(socket)
        assert kind == WSMsgType.TEXT and told["type"] == "test.before"
        await end()
        await _log(hub, ws, "test.after")
        assert await _next(socket) == (WSMsgType.CLOSE, stream_module.CREDENTIAL_ENDED)


async def _new_token(hub: Hub, user_id: int, expires_at: datetime | None = None) -> tuple[int, str]:
    async with hub.engine.begin() as conn:
        made = await create_api_token(conn, hub.token_key, user_id, "stream", expires_at=expires_at)
    return made.id, made.token


async def test_a_token_revoked_while_streaming_is_sent_nothing_more(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    token_id, token = await _new_token(hub, ws.admin_id)

    async def revoke() -> None:
        response = await client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(ws.token))
        assert response.status == 200, await response.text()

    await _told_then_cut_off(client, hub, ws, bearer(token), revoke)


async def test_a_token_that_expires_while_streaming_is_sent_nothing_more(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    token_id, token = await _new_token(hub, ws.admin_id, datetime.now(UTC) + timedelta(hours=1))

    async def expire() -> None:
        """Its expiry comes: set in the past, so no wall-clock wait races a slow machine."""
        async with hub.engine.begin() as conn:
            await conn.execute(
                update(ApiToken)
                .where(ApiToken.id == token_id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )

    await _told_then_cut_off(client, hub, ws, bearer(token), expire)


@pytest.mark.parametrize("how", ["signed out", "ended from another session", "by an admin"])
async def test_a_session_ended_while_streaming_is_sent_nothing_more(
    hub: Hub, client: TestClient, how: str
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    browser = await sign_in(client, "ann@acme.test")
    headers = {**browser.headers(), "Origin": hub.settings.base_url}

    async def end() -> None:
        if how == "signed out":
            response = await client.delete("/api/v1/session", headers=browser.headers())
        elif how == "ended from another session":
            other = await sign_in(client, "ann@acme.test")
            response = await client.post("/api/v1/session/end-others", headers=other.headers())
        else:
            path = f"/api/v1/sessions/{browser.session_id}"
            response = await client.delete(path, headers=bearer(ws.token))
        assert response.status == 200, await response.text()

    await _told_then_cut_off(client, hub, ws, headers, end)


async def test_an_idle_stream_is_closed_soon_after_its_token_is_revoked(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    token_id, token = await _new_token(hub, ws.admin_id)
    async with client.ws_connect("/api/v1/stream", headers=bearer(token)) as socket:
        response = await client.delete(f"/api/v1/tokens/{token_id}", headers=bearer(ws.token))
        assert response.status == 200
        # Nothing is logged: the catch-up read finds out.
        assert await _next(socket) == (WSMsgType.CLOSE, stream_module.CREDENTIAL_ENDED)


async def test_a_role_changed_while_streaming_shows_what_comes_next_by_its_new_rules(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    defined = await client.post(
        "/api/v1/custom-fields",
        json={"name": "salary", "sensitive": True},
        headers=bearer(ws.token),
    )
    assert defined.status == 201, await defined.text()
    manager = await user_with_password(hub, ws.id, "max@acme.test", role=Role.MANAGER)
    _, token = await _new_token(hub, manager)
    fields = {"salary": "90000", "tier": "gold"}
    async with client.ws_connect("/api/v1/stream", headers=bearer(token)) as socket:
        await _log(hub, ws, "customer.fields_changed", customer_id=1, fields=fields)
        _, as_manager = await _next(socket)
        assert as_manager["data"]["fields"] == fields
        response = await client.put(
            f"/api/v1/users/{manager}/role", json={"role": "agent"}, headers=bearer(ws.token)
        )
        assert response.status == 200, await response.text()
        await _log(hub, ws, "customer.fields_changed", customer_id=1, fields=fields)
        _, as_agent = await _next(socket)
        assert as_agent["data"]["fields"] == {"tier": "gold"}
