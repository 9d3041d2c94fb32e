"""Declares endpoints once: the aiohttp route, input validation and the OpenAPI operation."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, ClassVar, Generic, TypeVar
from urllib.parse import quote

from aiohttp import web
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    ValidationError,
    WithJsonSchema,
    create_model,
)

from hub.api.refusals import refusals_audited
from hub.auth import Principal
from hub.errors import ApiError, invalid, not_found
from hub.request_bodies import UNSUPPORTED, BodyTooSlow, encoded, read_within
from hub.web_keys import PRINCIPAL
from timeline.models.base import MAX_BIGINT, MAX_INTEGER
from timeline.policy import READING, Permission, missing_permission

Body = TypeVar("Body", bound=BaseModel)
Query = TypeVar("Query", bound=BaseModel)

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""The largest API request body (a reply's files, base64); webhooks have their channel's own."""
MAX_PUBLIC_REQUEST_BYTES = 16 * 1024
"""The largest body of an endpoint anyone may call (signing in, password resets): a stranger's
30 MB bodies, eight at once, raised the serving process's memory by 276 MB."""

_ASCII_DIGITS = re.compile(r"[0-9]+")


def _written_in_ascii_digits(value: object) -> object:
    """Paths and queries are text: pydantic alone would also read ' 7', '+7', '7.0' and '7_0'
    as 7, values outside the document's `integer`. JSON bodies arrive typed (strict mode)."""
    if isinstance(value, str) and not _ASCII_DIGITS.fullmatch(value):
        raise ValueError("expected a whole number written in the digits 0-9")
    return value


DIGITS_ONLY = BeforeValidator(_written_in_ascii_digits)
"""Put last in an integer's Annotated[...], after its Field bounds, so the bounds stay native
(and in the document as minimum/maximum) and this runs first."""

Id = Annotated[int, Field(ge=1, le=MAX_BIGINT), DIGITS_ONLY]
"""A row id, in paths, queries and bodies: the range of a BIGINT id column."""

Position = Annotated[int, Field(ge=0, le=MAX_INTEGER), DIGITS_ONLY]
"""A position in a list kept in an INTEGER column (an attachment's index, from 0)."""

NO_NUL = r"^[^\x00]*$"
"""PostgreSQL cannot store U+0000 in text; no string the API takes carries it."""

Text = Annotated[str, Field(pattern=NO_NUL)]
"""A string input that may reach the database; give it a max_length."""

INSTANT = (
    r"^(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
    r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
"""RFC 3339 date and time with its offset from UTC, to the microsecond: what pydantic reads
(no leap second, no offset of 24 hours)."""
_INSTANT = re.compile(INSTANT)


def _read_instant(value: object) -> object:
    """Text of the pattern's form, read as a datetime (anything else is refused). pydantic
    alone would also read a lower-case `t`, a space for the `T` and more digits than it keeps;
    and in strict mode, text that went through a validator is no datetime to it."""
    if not isinstance(value, str):
        return value
    if not _INSTANT.fullmatch(value):
        raise ValueError("expected a date and time with its offset, as 2030-01-31T09:00:00Z")
    return datetime.fromisoformat(value)


Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_read_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": INSTANT, "maxLength": 32}),
]
"""A moment, with its offset from UTC (a date and time without one names no moment)."""


class Empty(BaseModel):
    """No input."""


class Access(Enum):
    """Who may call an endpoint."""

    SIGNED_IN = "signed_in"
    """A bearer token, or a session cookie that has finished signing in (the default)."""
    ENROLLING = "enrolling"
    """Also a session that may only enrol in two-factor (its role requires it, it has none)."""
    PUBLIC = "public"
    """Anyone: signing in itself."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls, and how: `session_id` when by a session cookie, None by a bearer token."""

    principal: Principal
    credential: str = field(repr=False)
    """What the caller presented (the token, or the session cookie's value), for a connection
    that outlives its request to ask again whether it still holds (hub.callers.principal_now)."""
    session_id: int | None = None
    enrolling: bool = False
    """A session that may only enrol in two-factor (hub.models.UserSession.enrolling)."""


@dataclass(frozen=True, slots=True)
class Cookie:
    """A cookie the answer sets: always HttpOnly, SameSite=Lax, path /; `max_age` 0 deletes."""

    name: str
    value: str
    secure: bool
    max_age: int | None = None


@dataclass(slots=True)
class Call(Generic[Body, Query]):
    """One API call as a handler sees it: who calls, validated input, path ids, and the
    cookies its answer is to set."""

    request: web.Request
    caller: Caller | None
    body: Body
    query: Query
    ids: dict[str, int]
    cookies: list[Cookie] = field(default_factory=list)

    @property
    def principal(self) -> Principal:
        """The caller's principal; only public endpoints have none, and they do not ask."""
        if self.caller is None:
            raise RuntimeError("a public endpoint has no principal")
        return self.caller.principal

    @property
    def session_id(self) -> int | None:
        """The caller's session, when they came by its cookie."""
        return None if self.caller is None else self.caller.session_id


@dataclass(frozen=True, slots=True)
class Download:
    """A file answered as its own bytes, not JSON: declare the endpoint with response=Download.

    Always `Content-Disposition: attachment`, `nosniff` and a sandboxing CSP, so a customer's
    HTML or SVG file never runs as a page of the hub's origin.
    """

    filename: str
    content_type: str
    content: bytes

    def response(self) -> web.Response:
        content_type = self.content_type if _MEDIA_TYPE.fullmatch(self.content_type) else None
        fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", self.filename) or "attachment"
        disposition = (
            f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(self.filename)}"
        )
        return web.Response(
            body=self.content,
            content_type=content_type or "application/octet-stream",
            headers={
                "Content-Disposition": disposition,
                "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "sandbox",
            },
        )


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The answer of an endpoint that upgraded the connection (a WebSocket) and has run it to
    its end: declare the endpoint with response=Upgraded. Its refusals (no token, bad input, no
    upgrade asked) are still the JSON error shape."""

    response: web.StreamResponse


@dataclass(frozen=True, slots=True)
class Streamed:
    """An answer written chunk by chunk as it is made (an export), as an attachment: declare
    the endpoint with a subclass naming the media types it may answer in `media_types`.
    Refusals before the first chunk are still the JSON error shape; the iterator is closed
    however the answer ends."""

    media_type: str
    filename: str
    chunks: AsyncIterator[bytes]
    media_types: ClassVar[tuple[str, ...]] = ()

    async def respond(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": f"{self.media_type}; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{self.filename}"',
                "X-Content-Type-Options": "nosniff",
            }
        )
        async with aclosing(self.chunks) as chunks:
            await response.prepare(request)
            try:
                async for chunk in chunks:
                    if chunk:
                        await response.write(chunk)
            except ConnectionResetError:
                return response  # the client went away; closing the chunks ends the work
        await response.write_eof()
        return response


_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")

Handler = Callable[[Call[Any, Any]], Awaitable[BaseModel | Download | Upgraded | Streamed]]
Response = type[BaseModel] | type[Download] | type[Upgraded] | type[Streamed]
CallerOf = Callable[[web.Request, "Endpoint"], Awaitable[Caller]]
"""Who calls an endpoint that is not public: from the bearer token, the `access_token` query
parameter (where the endpoint allows it) or the session cookie; or an ApiError (401, 403, 429)."""


@dataclass(slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: Response
    path_parameters: type[BaseModel]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200
    token_in_query: bool = False
    """Whether the `access_token` query parameter may carry the token (for browsers, which
    cannot set headers on a WebSocket); the query model declares it."""
    permission: Permission | None = None
    """What the caller's role, within their token's scope, must grant to call it at all (403
    otherwise); None (reading operations only): any user. Record and field rules are the
    core's, on top."""
    access: Access = Access.SIGNED_IN


@dataclass(slots=True)
class ApiRoutes:
    prefix: str = "/api/v1"
    endpoints: list[Endpoint] = field(default_factory=list)

    def add(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        response: Response,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        path_types: Mapping[str, Any] | None = None,
        status: int = 200,
        token_in_query: bool = False,
        permission: Permission | None = None,
        access: Access = Access.SIGNED_IN,
    ) -> Callable[[Handler], Handler]:
        """Declare an endpoint; each `{name}` in `path` is an Id unless `path_types` says.
        A GET may leave `permission` out (any user reads it); any other method must name a
        permission that changes something (so no such operation is open to a read-only token
        by omission), unless anyone may call it (signing in)."""
        changes = method != "GET" and access is not Access.PUBLIC
        if changes and (permission is None or permission in READING):
            raise ValueError(f"{method} {path} must name the permission it needs")

        def register(handler: Handler) -> Handler:
            parameters = _path_parameters(handler.__name__, path, path_types or {})
            self.endpoints.append(
                Endpoint(
                    method,
                    path,
                    handler,
                    summary,
                    tag,
                    response,
                    parameters,
                    body,
                    query,
                    status,
                    token_in_query,
                    permission,
                    access,
                )
            )
            return handler

        return register

    def install(self, app: web.Application, caller_of: CallerOf) -> None:
        """Route each endpoint; a path parameter matches digits only, so that a literal path
        beside it (`/conversations/bulk` by `/conversations/{conversation_id}`) is never
        taken for an id (its Allow header names its own methods); other text there is 404."""
        for endpoint in self.endpoints:
            path = re.sub(r"{(\w+)}", r"{\1:[0-9]+}", self.prefix + endpoint.path)
            app.router.add_route(
                endpoint.method, path, refusals_audited(_view(endpoint, caller_of))
            )


def _path_parameters(handler: str, path: str, types: Mapping[str, Any]) -> type[BaseModel]:
    names = re.findall(r"{(\w+)}", path)
    if unknown := set(types) - set(names):
        raise ValueError(f"{path} has no parameters {sorted(unknown)}")
    fields: dict[str, Any] = {name: (types.get(name, Id), ...) for name in names}
    return create_model(f"{handler}_path", **fields)


def _view(
    endpoint: Endpoint, caller_of: CallerOf
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def view(request: web.Request) -> web.StreamResponse:
        caller = None if endpoint.access is Access.PUBLIC else await caller_of(request, endpoint)
        if caller is not None:
            request[PRINCIPAL] = caller.principal
            if endpoint.permission is not None and not caller.principal.may(endpoint.permission):
                raise missing_permission(endpoint.permission)
        call = Call(
            request=request,
            caller=caller,
            ids=_path_values(endpoint.path_parameters, request),
            query=_validate(endpoint.query or Empty, dict(request.query)),
            body=await _body(request, endpoint),
        )
        result = await endpoint.handler(call)
        if isinstance(result, Download):
            return result.response()
        if isinstance(result, Upgraded):
            return result.response
        if isinstance(result, Streamed):
            return await result.respond(request)
        response = web.Response(
            status=endpoint.status,
            text=result.model_dump_json(),
            content_type="application/json",
        )
        for cookie in call.cookies:
            response.set_cookie(
                cookie.name,
                cookie.value,
                max_age=cookie.max_age,
                path="/",
                secure=cookie.secure,
                httponly=True,
                samesite="Lax",
            )
        return response

    return view


def _path_values(model: type[BaseModel], request: web.Request) -> dict[str, int]:
    """The path's numbers; one that is not a number in range names nothing there is: 404."""
    try:
        return model.model_validate(dict(request.match_info)).model_dump()
    except ValidationError as error:
        name = str(error.errors()[0]["loc"][0])
        raise not_found(name.removesuffix("_id")) from None


async def _body(request: web.Request, endpoint: Endpoint) -> BaseModel:
    """The JSON body as the endpoint's model, strictly: `"7"` is no integer and `1` no string
    here. Read only up to what the endpoint takes (413 beyond)."""
    model = endpoint.body
    if model is None:
        return Empty()
    if encoded(request):
        raise ApiError(415, "unsupported_encoding", UNSUPPORTED)
    limit = MAX_PUBLIC_REQUEST_BYTES if endpoint.access is Access.PUBLIC else MAX_REQUEST_BYTES
    try:
        raw = await read_within(request, limit)
    except BodyTooSlow as slow:
        raise ApiError(408, "request_timeout", str(slow)) from None
    if raw is None:
        # The code aiohttp's own limit answers with, as before this reader.
        raise ApiError(
            413, "request_entity_too_large", f"the request body may hold {limit} bytes here"
        )
    try:
        return model.model_validate_json(raw or b"{}", strict=True)
    except ValidationError as error:
        # pydantic's parser also refuses nesting deeper than it recurses (json.loads would
        # raise RecursionError at 100,000 levels): that is bad JSON too, not an error of ours.
        if any(issue["type"] == "json_invalid" for issue in error.errors()):
            raise ApiError(400, "bad_json", "the request body is not valid JSON") from None
        raise invalid(_fields(error)) from None


def _validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid(_fields(error)) from None


def _fields(error: ValidationError) -> dict[str, str]:
    return {
        ".".join(str(part) for part in issue["loc"]) or "body": issue["msg"]
        for issue in error.errors()
    }
