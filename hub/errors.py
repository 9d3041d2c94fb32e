"""The one JSON error shape: {"error": {"code", "message", "fields"}}, and the middleware."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers with its own status, code and message."""

    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def invalid(fields: dict[str, str], message: str = "invalid input") -> ApiError:
    return ApiError(422, "invalid", message, fields)


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.code, error.message, error.fields)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return error_response(error.status, error.reason.lower().replace(" ", "_"), error.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal server error")
