"""Sign-in lockout: an (email, address) pair is locked after repeated failures, with a clear
429 and Retry-After, while the same user still signs in from another address."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from hub.context import Hub
from hub.errors import ApiError
from hub.sign_in import Client, SignInForm
from tests.hub.signing_in import PASSWORD, sign_in_request, user_with_password
from tests.workspace import seed_workspace
from timeline.models import AuditEntry


async def test_failures_lock_the_email_at_that_address_with_a_clear_answer(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    limit = hub.settings.sign_in.max_failures
    statuses = [
        (await sign_in_request(client, "ann@acme.test", "wrong password"))[0] for _ in range(limit)
    ]
    assert statuses == [401] * (limit - 1) + [429]
    response = await client.post(
        "/api/v1/session", json={"email": "ann@acme.test", "password": PASSWORD}
    )
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= hub.settings.sign_in.lockout_seconds
    assert "too many failed sign-ins" in (await response.json())["error"]["message"]
    async with hub.engine.connect() as conn:
        locks = await conn.execute(
            select(func.count()).where(AuditEntry.action == "user.sign_in_locked")
        )
        assert locks.scalar_one() == 1


async def test_another_address_still_signs_in(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    attacker = Client("203.0.113.7", "curl")
    owner = Client("198.51.100.20", "Firefox")
    wrong = SignInForm("ann@acme.test", "guess")
    for _ in range(hub.settings.sign_in.max_failures):
        with pytest.raises(ApiError):
            await hub.sign_in.sign_in(hub.engine, wrong, attacker, None)
    right = SignInForm("ann@acme.test", PASSWORD)
    with pytest.raises(ApiError) as locked:
        await hub.sign_in.sign_in(hub.engine, right, attacker, None)
    assert locked.value.status == 429
    signed_in = await hub.sign_in.sign_in(hub.engine, right, owner, None)
    assert signed_in.session.token
    # Another email from the locked address is not locked either.
    await user_with_password(hub, ws.id, "bob@acme.test")
    await hub.sign_in.sign_in(hub.engine, SignInForm("bob@acme.test", PASSWORD), attacker, None)
