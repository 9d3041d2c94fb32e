"""Helpers for sign-in tests: users with passwords, and sign-in by the API with the cookie kept
out of the client's jar, so that each request says which session (if any) it carries."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pyotp
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


async def enrol(client: TestClient, browser: Browser) -> tuple[pyotp.TOTP, list[str], Browser]:
    """Enrol the browser's user; their TOTP, recovery codes and the renewed browser."""
    started = await client.post("/api/v1/two-factor", headers=browser.headers())
    assert started.status == 201
    enrolment = await started.json()
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/Switchboard:")
    totp = pyotp.TOTP(enrolment["secret"])
    confirmed = await client.post(
        "/api/v1/two-factor/confirm", json={"code": totp.now()}, headers=browser.headers()
    )
    body = await confirmed.json()
    assert confirmed.status == 200, body
    renewed = confirmed.cookies["switchboard_session"].value
    client.session.cookie_jar.clear()
    return totp, body["recovery_codes"], Browser(renewed, body["csrf_token"], browser.session_id)


def next_code(totp: pyotp.TOTP) -> str:
    """The next time step's code: the current one was spent confirming (drift allows it)."""
    return totp.at(time.time() + totp.interval)
