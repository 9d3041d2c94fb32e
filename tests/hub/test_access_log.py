"""The access log (hub/access_log.py): a credential in a query string never reaches it."""

from __future__ import annotations

import logging
import socket

import aiohttp
import pytest
from aiohttp import web

from hub.access_log import RedactingAccessLogger
from hub.serving import HubRunner


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_the_access_log_redacts_a_token_in_the_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def answer(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/api/v1/stream", answer)
    logger = logging.getLogger("test.access")
    runner = HubRunner(app, access_log=logger, access_log_class=RedactingAccessLogger)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        with caplog.at_level(logging.INFO, logger="test.access"):
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{port}/api/v1/stream"
                params = {"access_token": "sbt_secret-token", "last_event_id": "7"}
                async with session.get(url, params=params) as response:
                    assert response.status == 200
    finally:
        await runner.cleanup()
    lines = [r.getMessage() for r in caplog.records if r.name == "test.access"]
    assert len(lines) == 1
    assert "sbt_secret-token" not in lines[0]
    assert "access_token=%5Bredacted%5D" in lines[0] or "access_token=[redacted]" in lines[0]
    assert "last_event_id=7" in lines[0]
    assert '"GET /api/v1/stream?' in lines[0]
