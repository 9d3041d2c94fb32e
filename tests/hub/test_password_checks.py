"""A password check (argon2, about 150 ms of CPU) runs in a worker thread: the process goes on
answering its other requests, webhooks among them, while a sign-in is being checked."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from hub import auth
from hub.context import Hub
from tests.held_calls import HELD_SECONDS, HeldCall
from tests.hub.signing_in import user_with_password
from tests.workspace import seed_workspace


async def test_other_requests_are_answered_while_a_password_is_checked(
    hub: Hub, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    held_check = HeldCall(lambda password_hash, password: False)
    monkeypatch.setattr(auth, "_verifies", held_check)
    body = {"email": "ann@acme.test", "password": "a guess"}
    signing_in = asyncio.create_task(client.post("/api/v1/session", json=body))
    assert await held_check.reached()
    health = await asyncio.wait_for(client.get("/healthz"), HELD_SECONDS)
    assert health.status == 200
    held_check.release()
    assert (await signing_in).status == 401
    assert held_check.outcomes == [True], "the check held the event loop until its hold ran out"
