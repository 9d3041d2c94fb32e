"""Records the API's refusals (401: no valid credentials, 403: not allowed) in the audit log:
who was refused (the actor when known), where from, on which operation, and why.

Only the API's operations are wrapped (hub.api.framework installs them so): a webhook, a page
or a health check never pays for the check."""

from __future__ import annotations

import logging
from functools import wraps

from aiohttp import web

from hub.errors import ApiError, Handler
from hub.log_text import printable
from hub.web_keys import HUB, PRINCIPAL
from timeline import audit
from timeline.errors import Forbidden

log = logging.getLogger(__name__)


def refusals_audited(operation: Handler) -> Handler:
    """The API operation, its refusals recorded before they propagate to `json_errors` (the
    middleware that turns them into answers)."""

    @wraps(operation)
    async def audited(request: web.Request) -> web.StreamResponse:
        try:
            return await operation(request)
        except ApiError as error:
            if error.status in (401, 403):
                await _record(request, error.status, error.message)
            raise
        except Forbidden as refusal:
            await _record(request, 403, refusal.message)
            raise

    return audited


async def _record(request: web.Request, status: int, reason: str) -> None:
    """A refusal is answered even if it cannot be recorded (the database is down, say): the
    log says so."""
    principal = request.get(PRINCIPAL)
    try:
        async with request.app[HUB].engine.begin() as conn:
            await audit.record(
                conn,
                workspace_id=principal.workspace_id if principal else None,
                actor_user_id=principal.user_id if principal else None,
                action="api.refused",
                entity_type="request",
                entity_id=status,
                changes={
                    "method": printable(request.method),
                    "path": printable(request.path),
                    "reason": reason,
                },
            )
    except Exception:
        log.exception("the audit entry of a %d refusal could not be written", status)
