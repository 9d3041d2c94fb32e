"""The access log's line for a request: never a credential from its query string."""

from __future__ import annotations

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from hub.log_text import printable
from hub.request_ids import REQUEST_ID, client_address

SECRET_PARAMETERS = frozenset({"access_token"})
"""Query parameters that carry a credential (the stream's token, for browsers)."""


class RedactingAccessLogger(AbstractAccessLogger):
    """Logs address, method, path with its query (credentials replaced), status, size, time
    and the request's id (`-` for a request refused before it had one: unparsable HTTP)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %s %.3f %s',
            client_address(request),
            printable(request.method),
            printable(redacted_target(request)),
            response.status,
            response.body_length,
            time,
            request.get(REQUEST_ID, "-"),
        )


def redacted_target(request: web.BaseRequest) -> str:
    """The request's path and query, each credential's value replaced by `[redacted]`."""
    url = request.rel_url
    secret = SECRET_PARAMETERS.intersection(url.query)
    if not secret:
        return str(url)
    query = [(k, "[redacted]" if k in secret else v) for k, v in url.query.items()]
    return str(url.with_query(query))
