"""Declares endpoints once: the aiohttp route, input validation and the OpenAPI operation."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from aiohttp import web
from pydantic import BaseModel, ValidationError

from hub.auth import Principal
from hub.errors import ApiError, invalid, not_found

Body = TypeVar("Body", bound=BaseModel)
Query = TypeVar("Query", bound=BaseModel)


class Empty(BaseModel):
    """No input."""


@dataclass(slots=True)
class Call(Generic[Body, Query]):
    """One API call as a handler sees it: who calls, validated input, path ids."""

    request: web.Request
    principal: Principal
    body: Body
    query: Query
    ids: dict[str, int]


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


_MEDIA_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")

Handler = Callable[[Call[Any, Any]], Awaitable[BaseModel | Download]]
Response = type[BaseModel] | type[Download]


@dataclass(slots=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: Response
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    status: int = 200


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
        status: int = 200,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(method, path, handler, summary, tag, response, body, query, status)
            )
            return handler

        return register

    def install(
        self, app: web.Application, principal_of: Callable[[web.Request], Awaitable[Principal]]
    ) -> None:
        for endpoint in self.endpoints:
            app.router.add_route(
                endpoint.method, self.prefix + endpoint.path, _view(endpoint, principal_of)
            )


def _view(
    endpoint: Endpoint, principal_of: Callable[[web.Request], Awaitable[Principal]]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def view(request: web.Request) -> web.Response:
        principal = await principal_of(request)
        call = Call(
            request=request,
            principal=principal,
            body=await _body(request, endpoint.body),
            query=_validate(endpoint.query or Empty, dict(request.query)),
            ids=_path_ids(request),
        )
        result = await endpoint.handler(call)
        if isinstance(result, Download):
            return result.response()
        return web.Response(
            status=endpoint.status,
            text=result.model_dump_json(),
            content_type="application/json",
        )

    return view


async def _body(request: web.Request, model: type[BaseModel] | None) -> BaseModel:
    if model is None:
        return Empty()
    raw = await request.read()
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "bad_json", "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise invalid({"body": "must be a JSON object"})
    return _validate(model, data)


def _validate(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = {
            ".".join(str(part) for part in issue["loc"]) or "body": issue["msg"]
            for issue in error.errors()
        }
        raise invalid(fields) from None


def _path_ids(request: web.Request) -> dict[str, int]:
    ids: dict[str, int] = {}
    for name, value in request.match_info.items():
        if not value.isdigit() or len(value) > 18:
            raise not_found(name.removesuffix("_id"))
        ids[name] = int(value)
    return ids
