"""What a stranger learns and costs: generic answers, escaped logs, a budget for bad tokens."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from hub.errors import json_errors


async def test_an_unhandled_error_logs_the_path_escaped(
    aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(_: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = web.Application(middlewares=[json_errors])
    app.router.add_get("/{anything}", broken)
    client: TestClient = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR, logger="hub.errors"):
        response = await client.get("/x%0A2026-12-06%20INFO%20hub:%20admin%20signed%20in")
    assert response.status == 500
    assert (await response.json())["error"]["code"] == "internal"
    (record,) = [r for r in caplog.records if r.name == "hub.errors"]
    assert record.getMessage() == (
        "unhandled error on GET /x\\n2026-12-06 INFO hub: admin signed in"
    )
