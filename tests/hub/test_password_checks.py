"""A password check (argon2, about 150 ms of CPU) runs in a worker thread: the process goes on
answering its other requests, webhooks among them, while a sign-in is being checked."""

from __future__ import annotations

import asyncio
import threading

import pytest
from aiohttp.test_utils import TestClient

from hub import auth
from hub.context import Hub
from tests.hub.signing_in import user_with_password
from tests.workspace import seed_workspace

HELD_SECONDS = 5


async def test_other_requests_are_answered_while_a_password_is_checked(
    hub: Hub, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    checking, released = threading.Event(), threading.Event()
    outcomes: list[bool] = []

    def held_check(password_hash: str, password: str) -> bool:
        """Holds the check until the test lets it go; on the event loop's thread, nothing
        else would run meanwhile, the test included, and the hold would run out instead."""
        checking.set()
        outcomes.append(released.wait(HELD_SECONDS))
        return False

    monkeypatch.setattr(auth, "_verifies", held_check)
    body = {"email": "ann@acme.test", "password": "a guess"}
    signing_in = asyncio.create_task(client.post("/api/v1/session", json=body))
    assert await asyncio.to_thread(checking.wait, HELD_SECONDS)
    health = await asyncio.wait_for(client.get("/healthz"), HELD_SECONDS)
    assert health.status == 200
    released.set()
    assert (await signing_in).status == 401
    assert outcomes == [True], "the check held the event loop until its hold ran out"
