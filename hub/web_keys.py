"""Typed keys for what the aiohttp application carries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from hub.auth import Principal
    from hub.context import Hub
    from hub.rate_limit import FailureLimiter

HUB: web.AppKey[Hub] = web.AppKey("hub")
WEBHOOK_FAILURES: web.AppKey[FailureLimiter] = web.AppKey("webhook_failures")
API_FAILURES: web.AppKey[FailureLimiter] = web.AppKey("api_failures")
"""Requests to the REST API without a valid bearer token, counted per client address."""

PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
"""Who an API request acts as, once its credentials are known (for the audit of refusals)."""
