"""The one JSON error shape: {"error": {"code", "message", "fields"}}, and the middleware."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus

from aiohttp import hdrs, web
from redis.exceptions import ConnectionError as RedisConnectionError

from hub.log_text import printable
from storage.sql import out_of_reach
from timeline.errors import Conflict, Forbidden, Invalid, NotFound

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error the API answers with its own status, code, message and headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = dict(headers or {})


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def too_many_failures(retry_after: int, message: str) -> ApiError:
    """429 for an address past its budget of refused requests (hub.rate_limit)."""
    return ApiError(429, "too_many_failures", message, headers={"Retry-After": str(retry_after)})


def invalid(fields: dict[str, str], message: str = "invalid input") -> ApiError:
    return ApiError(422, "invalid", message, fields)


REFUSALS = (NotFound, Forbidden, Conflict, Invalid)
"""What the core refuses (timeline.errors), each answered with its own status."""


def refusal_error(refusal: NotFound | Forbidden | Conflict | Invalid) -> ApiError:
    match refusal:
        case NotFound():
            return ApiError(404, "not_found", refusal.message)
        case Forbidden():
            return ApiError(403, refusal.code, refusal.message)
        case Conflict():
            return ApiError(409, refusal.code, refusal.message)
        case Invalid():
            return invalid(refusal.fields, refusal.message)


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


RETRY_AFTER_OUTAGE_SECONDS = 5


def unavailable(message: str) -> web.Response:
    """503 with Retry-After: what was asked may work once a service is back."""
    return error_response(
        503, "unavailable", message, headers={"Retry-After": str(RETRY_AFTER_OUTAGE_SECONDS)}
    )


def status_response(status: int, headers: Mapping[str, str] | None = None) -> web.Response:
    """The error shape for a bare HTTP status, told in its standard words and nothing else."""
    phrase = HTTPStatus(status).phrase
    return error_response(status, phrase.lower().replace(" ", "_"), phrase, headers=headers)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_BODY_HEADERS = frozenset({hdrs.CONTENT_TYPE, hdrs.CONTENT_LENGTH})


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as error:
        return _answer(error)
    except REFUSALS as refusal:
        return _answer(refusal_error(refusal))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        # aiohttp's own errors carry headers that belong to the answer (Allow on a 405).
        headers = {k: v for k, v in error.headers.items() if k not in _BODY_HEADERS}
        return status_response(error.status, headers)
    except Exception as error:
        if out_of_reach(error) or isinstance(error, RedisConnectionError):
            log.warning(
                "%s %s: a service is out of reach: %s",
                printable(request.method),
                printable(request.path),
                printable(error),
            )
            return unavailable("the hub cannot reach its database or queue now; retry later")
        log.exception(
            "unhandled error on %s %s", printable(request.method), printable(request.path)
        )
        return error_response(500, "internal", "internal server error")


def _answer(error: ApiError) -> web.Response:
    return error_response(
        error.status, error.code, error.message, error.fields, headers=error.headers
    )
