"""Who calls the REST API: a bearer token, or a session cookie that carries its CSRF token on
every state-changing request. Refusals: 401 (counted per address; 429 past its budget), 403."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from urllib.parse import urlsplit

from aiohttp import hdrs, web
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.api.framework import Access, Caller, Endpoint
from hub.auth import Principal
from hub.context import Hub
from hub.errors import ApiError, too_many_failures
from hub.request_ids import counted_address
from hub.sessions import SESSION_COOKIE
from hub.tokens import adopt_legacy_token, find_token
from hub.web_keys import API_FAILURES, HUB

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: a cookie alone may make them (no CSRF token needed)."""


async def caller_of(request: web.Request, endpoint: Endpoint) -> Caller:
    """The caller of a valid token or session, whatever its address did before. Without one:
    401, and the address's failure counted; once it is over its budget, 429 until its window
    ends.

    The token comes as `Authorization: Bearer <token>`, or, where the endpoint allows it (the
    stream: browsers cannot set headers on a WebSocket), as `?access_token=<token>`; a token
    needs no CSRF token, since no other site can make a browser send it. Otherwise the session
    cookie (hub.sessions) is read.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" and endpoint.token_in_query:
        scheme, token = "bearer", request.query.get("access_token", "")
    if scheme.lower() == "bearer" and token.strip():
        principal = await _token_principal(request, token.strip())
        if principal is not None:
            return Caller(principal, token.strip())
        refusal = "unknown, expired or revoked API token"
    elif cookie := request.cookies.get(SESSION_COOKIE):
        caller = await _session_caller(request, endpoint, cookie)
        if caller is not None:
            return caller
        refusal = "the session has ended or expired: sign in again"
    else:
        refusal = "send an API token as 'Authorization: Bearer <token>', or sign in"
    wait = request.app[API_FAILURES].fail(counted_address(request))
    if wait is not None:
        raise too_many_failures(wait, "too many requests without a valid token from this address")
    raise ApiError(401, "unauthorized", refusal)


async def _token_principal(request: web.Request, token: str) -> Principal | None:
    """The principal of a valid token; a token still stored as a bare SHA-256 is rehashed."""
    hub = request.app[HUB]
    async with hub.reads.connect() as conn:
        presented = await find_token(conn, hub.token_key, token)
    if presented is None:
        return None
    if presented.legacy:
        async with hub.engine.begin() as conn:
            await adopt_legacy_token(conn, hub.token_key, presented.token_id, token)
    return presented.principal


async def _session_caller(request: web.Request, endpoint: Endpoint, cookie: str) -> Caller | None:
    hub = request.app[HUB]
    async with hub.reads.connect() as conn:
        session = await hub.sessions.find(conn, cookie)
    if session is None:
        return None
    if not _from_own_site(request, hub.settings.base_url, upgrading=endpoint.token_in_query):
        raise ApiError(
            403,
            "cross_origin",
            "a request signed in by cookie must come from the hub's own pages",
        )
    csrf = hub.sessions.csrf_token(cookie)
    if request.method not in SAFE_METHODS and not _csrf_matches(request, csrf):
        raise ApiError(
            403,
            "csrf",
            f"a request signed in by cookie must carry its session's {CSRF_HEADER} header "
            "(GET /api/v1/session gives it)",
        )
    if session.enrolling and endpoint.access is not Access.ENROLLING:
        raise ApiError(
            403,
            "two_factor_enrolment_required",
            "your role signs in with two-factor: enrol first (POST /api/v1/two-factor)",
        )
    if session.due_for_touch(datetime.now(UTC)):
        async with hub.engine.begin() as conn:
            await hub.sessions.touch(conn, session.id)
    return Caller(session.principal, cookie, session.id, session.enrolling)


async def principal_now(hub: Hub, conn: AsyncConnection, caller: Caller) -> Principal | None:
    """The caller's principal as its credential stands now, for a connection that outlives its
    request (the stream): None once the token is revoked or expired, or the session ended or
    idled out; otherwise with its role's permissions of now. It counts and touches nothing."""
    if caller.session_id is None:
        presented = await find_token(conn, hub.token_key, caller.credential)
        return None if presented is None else presented.principal
    session = await hub.sessions.find(conn, caller.credential)
    if session is None or session.id != caller.session_id or session.enrolling:
        return None
    return session.principal


def _from_own_site(request: web.Request, base_url: str, *, upgrading: bool) -> bool:
    """Whether the browser says the request comes from the hub's own pages: an `Origin` naming
    another site is refused (a sibling subdomain is same-site, so SameSite=Lax sends it our
    cookie). A WebSocket handshake must carry it (browsers always do; the handshake is a GET,
    so no CSRF token guards it); other requests without one come from no page at all."""
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None:
        return not upgrading
    return origin.rstrip("/").lower() == web_origin(base_url)


def web_origin(url: str) -> str:
    """An http(s) URL's origin as browsers write it: scheme, host, and the port unless it is
    the scheme's default."""
    parts = urlsplit(url.lower())
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port is not None and parts.port != default else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _csrf_matches(request: web.Request, expected: str) -> bool:
    given = request.headers.get(CSRF_HEADER, "").encode("utf-8", "surrogatepass")
    return hmac.compare_digest(given, expected.encode())
