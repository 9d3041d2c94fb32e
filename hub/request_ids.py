"""Each request's id and client address, settled once as it arrives. The id is the client's
X-Request-Id if it is a plain token, else a new one; it is echoed in the answer, written on the
access log line and on every audit entry the request causes, with the client's address (the
peer, or the client a trusted proxy names: hub.client_addresses)."""

from __future__ import annotations

import random
import re

from aiohttp import web

from hub.client_addresses import limited_as
from hub.errors import Handler
from hub.web_keys import HUB
from timeline.audit import Origin, acting_from

REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
CLIENT_ADDRESS: web.RequestKey[str | None] = web.RequestKey("client_address")
AUDITED_ADDRESS_LENGTH = 64
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""What a client's id may be (anything else is replaced): it reaches logs and the database."""


@web.middleware
async def request_ids(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _ACCEPTED.fullmatch(given) else new_request_id()
    request[REQUEST_ID] = request_id
    proxies = request.app[HUB].settings.trusted_proxies
    address = (
        proxies.client_of(request.remote, request.headers.getall("X-Forwarded-For", ()))
        if proxies
        else request.remote
    )
    request[CLIENT_ADDRESS] = address
    audited = address[:AUDITED_ADDRESS_LENGTH] if address else None
    with acting_from(Origin(client_address=audited, request_id=request_id)):
        return await handler(request)


def new_request_id() -> str:
    """128 random bits in hex. An id names a request, it guards nothing (a client may choose
    its own), so `random` (reseeded in every forked process) serves: `uuid4` reads the
    operating system's entropy, a system call on every request."""
    return f"{random.getrandbits(128):032x}"


async def echo_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer names its request, a WebSocket's upgrade included."""
    if REQUEST_ID in request:
        response.headers[REQUEST_ID_HEADER] = request[REQUEST_ID]


def client_address(request: web.BaseRequest) -> str | None:
    """Who sent the request (the peer's address for one refused before the middleware ran:
    unparsable HTTP)."""
    return request.get(CLIENT_ADDRESS, request.remote)


def counted_address(request: web.BaseRequest) -> str | None:
    """What the request's per-address limits count it under (hub.client_addresses.limited_as)."""
    return limited_as(client_address(request))
