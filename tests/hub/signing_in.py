"""Helpers for sign-in tests: users with passwords, and sign-in by the API with the cookie kept
out of the client's jar, so that each request says which session (if any) it carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

from hub.context import Hub
from hub.provisioning import create_user
from hub.sessions import SESSION_COOKIE
from timeline.models import Role

PASSWORD = "correct horse battery staple"


async def user_with_password(
    hub: Hub, workspace_id: int, email: str, role: Role = Role.AGENT, password: str = PASSWORD
) -> int:
    async with hub.engine.begin() as conn:
        return await create_user(
            conn, workspace_id, email=email, name=email, role=role, password=password
        )


@dataclass(frozen=True, slots=True)
class Browser:
    """One signed-in browser: its session cookie and that session's CSRF token."""

    cookie: str
    csrf_token: str
    session_id: int

    def headers(self, *, csrf: bool = True) -> dict[str, str]:
        sent = {"Cookie": f"{SESSION_COOKIE}={self.cookie}"}
        return {**sent, "X-CSRF-Token": self.csrf_token} if csrf else sent


async def sign_in_request(
    client: TestClient, email: str, password: str = PASSWORD, **extra: Any
) -> tuple[int, dict[str, Any], str | None]:
    """POST /api/v1/session: its status, body and the session cookie it set (if any)."""
    headers = extra.pop("headers", {})
    response = await client.post(
        "/api/v1/session", json={"email": email, "password": password, **extra}, headers=headers
    )
    body = await response.json()
    cookie = response.cookies.get(SESSION_COOKIE)
    client.session.cookie_jar.clear()
    return response.status, body, cookie.value if cookie is not None else None


async def sign_in(
    client: TestClient, email: str, password: str = PASSWORD, **extra: Any
) -> Browser:
    status, body, cookie = await sign_in_request(client, email, password, **extra)
    assert status == 201, body
    assert cookie
    return Browser(cookie, body["csrf_token"], body["session_id"])
