"""What a stranger learns and costs: generic answers, escaped logs, a budget for bad tokens."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from hub.app import create_app
from hub.config import Settings
from hub.context import Hub
from hub.errors import json_errors
from hub.rate_limit import FailureLimiter
from tests.conftest import TEST_BASE_URL, TEST_SECRET_KEY, HubTestServer, bearer
from tests.workspace import seed_workspace


@pytest.fixture
async def unreachable_database() -> AsyncIterator[Hub]:
    """A hub whose PostgreSQL is nowhere: nothing listens on port 1."""
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/switchboard_secret_name"
    instance = Hub(Settings(url, None, TEST_SECRET_KEY, TEST_BASE_URL, "127.0.0.1", 0))
    yield instance
    await instance.engine.dispose()


async def test_readyz_answers_a_generic_reason_and_logs_the_error(
    unreachable_database: Hub, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(unreachable_database, manage_hub=False)
    client: TestClient = await aiohttp_client(HubTestServer(app))
    with caplog.at_level(logging.WARNING, logger="hub.app"):
        response = await client.get("/readyz")
    assert response.status == 503
    assert await response.json() == {"status": "unavailable", "database": "unavailable"}
    logged = [r.getMessage() for r in caplog.records if r.name == "hub.app"]
    assert len(logged) == 1 and "127.0.0.1" in logged[0] and "\n" not in logged[0]


async def test_an_unhandled_error_logs_the_path_escaped(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(_: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/{anything}", broken)
    client: TestClient = await aiohttp_client(HubTestServer(app))
    with caplog.at_level(logging.ERROR, logger="hub.errors"):
        response = await client.get("/x%0A2026-12-06%20INFO%20hub:%20admin%20signed%20in")
    assert response.status == 500
    assert (await response.json())["error"]["code"] == "internal"
    (record,) = [r for r in caplog.records if r.name == "hub.errors"]
    assert record.getMessage() == (
        "unhandled error on GET /x\\n2026-12-06 INFO hub: admin signed in"
    )


BUDGET = 5


@pytest.fixture
async def limited_client(hub: Hub, aiohttp_client: Any) -> TestClient:
    app = create_app(hub, api_failures=FailureLimiter(max_failures=BUDGET, window_seconds=600))
    return await aiohttp_client(HubTestServer(app))


async def test_bad_tokens_from_one_address_get_429_once_over_budget(
    hub: Hub, limited_client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    refusals = [
        (await limited_client.get("/api/v1/customers", headers=headers)).status
        for headers in [bearer(f"sbt_guess{n}") for n in range(BUDGET - 1)] + [{}]
    ]
    assert refusals == [401] * BUDGET
    response = await limited_client.get("/api/v1/customers", headers=bearer("sbt_one_more"))
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 600
    assert (await response.json())["error"]["code"] == "too_many_failures"
    assert (await limited_client.get("/api/v1/customers")).status == 429
    response = await limited_client.get("/api/v1/customers", headers=bearer(ws.token))
    assert response.status == 200
