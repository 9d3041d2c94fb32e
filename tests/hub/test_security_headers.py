"""Security headers on every answer of the app: every route, with and without credentials,
the router's own 404 and 405, a body too large (413), a request too broken for the app, and
HSTS only behind TLS."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDictProxy

from hub.api.framework import MAX_REQUEST_BYTES
from hub.config import Settings
from hub.context import Hub
from hub.security_headers import SECURITY_HEADERS
from tests.conftest import HubTestServer, bearer
from tests.workspace import seed_workspace


def assert_secured(headers: CIMultiDictProxy[str], what: object) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (what, name, headers.get(name))
    assert "unsafe-inline" not in headers["Content-Security-Policy"]
    assert "Strict-Transport-Security" not in headers, "not served over TLS here"


def _example_path(resource: web.AbstractResource) -> str:
    """The route's path with each variable filled in (a number: ids are)."""
    return re.sub(r"{[^}]+}", "1", resource.canonical)


async def test_every_route_answers_with_the_security_headers(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    routes = [
        (route.method, _example_path(route.resource))
        for route in client.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    ]
    assert len(routes) > 20
    for method, path in routes:
        for headers in ({}, bearer(ws.token)):
            async with client.request(method, path, headers=headers, json={}) as response:
                assert_secured(response.headers, (method, path, response.status))
    for method, path, status in [("GET", "/nothing/here", 404), ("DELETE", "/healthz", 405)]:
        response = await client.request(method, path)
        assert response.status == status
        assert_secured(response.headers, path)


async def test_a_body_too_large_is_refused_with_the_security_headers(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    response = await client.post(
        "/api/v1/teams", data=b"x" * (MAX_REQUEST_BYTES + 1), headers=bearer(ws.token)
    )
    assert response.status == 413
    assert_secured(response.headers, 413)


async def test_a_request_too_broken_for_the_app_gets_them_too(client: TestClient) -> None:
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = (await reader.read(65536)).decode("latin-1")
    writer.close()
    status_line, *lines = head.split("\r\n\r\n")[0].split("\r\n")
    assert status_line.split()[1].startswith("4")
    received = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    for name, value in SECURITY_HEADERS.items():
        assert received.get(name) == value, (name, received)


async def test_strict_transport_security_only_behind_tls(
    settings: Settings, aiohttp_client: Any
) -> None:
    from hub.app import create_app

    tls_hub = Hub(replace(settings, base_url="https://hub.example"), pull_channels=False)
    client = await aiohttp_client(HubTestServer(create_app(tls_hub)))
    response = await client.get("/healthz")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    assert_secured_but_hsts = {k: response.headers.get(k) for k in SECURITY_HEADERS}
    assert assert_secured_but_hsts == dict(SECURITY_HEADERS)
