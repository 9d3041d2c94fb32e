"""The aiohttp application: REST API, webhooks, health checks, and the Hub's lifecycle."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web
from sqlalchemy import text

from hub import request_bodies
from hub.api import (
    accounts,
    agents,
    audit,
    bulk,
    channels,
    conversations,
    customer_export,
    customer_fields,
    customers,
    events,
    field_history,
    messages,
    roles,
    sessions,
    stream,
    teams,
    tokens,
    two_factor_changes,
    users,
)
from hub.api.framework import MAX_REQUEST_BYTES, ApiRoutes
from hub.api.openapi import build_openapi
from hub.callers import caller_of
from hub.context import Hub
from hub.errors import Handler, json_errors
from hub.log_text import printable
from hub.rate_limit import FailureLimiter
from hub.request_ids import echo_request_id, request_ids
from hub.security_headers import add_security_headers, behind_tls
from hub.web_keys import API_FAILURES, HUB
from hub.webhooks import add_routes as add_webhook_routes

log = logging.getLogger(__name__)
API_MODULES = (
    sessions,
    accounts,
    customer_export,
    two_factor_changes,
    customers,
    customer_fields,
    bulk,
    conversations,
    field_history,
    agents,
    teams,
    users,
    roles,
    channels,
    messages,
    events,
    stream,
    audit,
    tokens,
)


def api_routes() -> ApiRoutes:
    combined = ApiRoutes()
    for module in API_MODULES:
        combined.endpoints.extend(module.routes.endpoints)
    return combined


def create_app(
    hub: Hub, *, manage_hub: bool = True, api_failures: FailureLimiter | None = None
) -> web.Application:
    """Build the app; with manage_hub the app starts and stops the Hub with itself.

    `api_failures` counts requests without a valid token per address (default: 20 a minute).
    """
    app = web.Application(
        middlewares=[request_ids, server_timing, json_errors],
        client_max_size=MAX_REQUEST_BYTES,
        handler_args=request_bodies.SERVER_OPTIONS,
    )
    app.on_response_prepare.append(echo_request_id)
    add_security_headers(app, tls=behind_tls(hub.settings.base_url))
    app[HUB] = hub
    app[API_FAILURES] = api_failures or FailureLimiter()
    routes = api_routes()
    openapi = build_openapi(routes)
    routes.install(app, caller_of)
    app.router.add_get("/api/v1/openapi.json", _openapi_view(openapi))
    add_webhook_routes(app)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/", _home)
    if manage_hub:
        app.cleanup_ctx.append(_hub_lifecycle)
    return app


@web.middleware
async def server_timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Report the time spent in the server as `Server-Timing: app;dur=<ms>`."""
    started = time.perf_counter()
    response = await handler(request)
    if not response.prepared:
        elapsed_ms = (time.perf_counter() - started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed_ms:.3f}"
    return response


async def _hub_lifecycle(app: web.Application) -> AsyncIterator[None]:
    await app[HUB].start()
    yield
    await app[HUB].stop()


def _openapi_view(document: dict[str, object]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def view(_: web.Request) -> web.Response:
        return web.json_response(document)

    return view


async def _healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[HUB].reads.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as error:
        # The error may name hosts, users and paths: the log has it, a stranger does not.
        log.warning("readyz: the database did not answer: %s", printable(error))
        return web.json_response({"status": "unavailable", "database": "unavailable"}, status=503)
    return web.json_response({"status": "ready"})


async def _home(_: web.Request) -> web.Response:
    return web.Response(
        text=(
            "<!doctype html><title>Switchboard</title><h1>Switchboard</h1>"
            "<p>The hub is running. The REST API lives under <code>/api/v1/</code>; "
            'its description is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>'
        ),
        content_type="text/html",
    )
