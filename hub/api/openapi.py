"""Builds the OpenAPI 3.1 document from the declared endpoints and their pydantic models."""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hub.api.framework import Access, ApiRoutes, Download, Endpoint, Streamed, Upgraded
from hub.request_bodies import BODY_SECONDS, MIN_BODY_BYTES_PER_SECOND
from hub.sessions import SESSION_COOKIE

SIGNED_IN_BY_COOKIE = (
    f"Every operation that takes a bearer token also takes the `{SESSION_COOKIE}` cookie that "
    "`POST /api/v1/session` sets; a POST, PUT, PATCH or DELETE made with the cookie must also "
    "carry the session's `X-CSRF-Token` header. (The cookie is not declared as a security "
    "scheme: clients of this document use tokens, browsers the cookie.)"
)

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}


def build_openapi(routes: ApiRoutes) -> dict[str, Any]:
    models = _models(routes)
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template="#/components/schemas/{model}"
    )
    schemas = definitions.get("$defs", {})
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in routes.endpoints:
        path = routes.prefix + endpoint.path
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard API", "version": "1", "description": SIGNED_IN_BY_COOKIE},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _models(routes: ApiRoutes) -> list[type[BaseModel]]:
    seen: dict[str, type[BaseModel]] = {}
    for endpoint in routes.endpoints:
        for model in (endpoint.response, endpoint.body):
            if model is not None and issubclass(model, BaseModel):
                seen[model.__name__] = model
    return list(seen.values())


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": _parameters(endpoint.path_parameters, "path")
        + (_parameters(endpoint.query, "query") if endpoint.query is not None else []),
        "responses": {
            str(endpoint.status): _success(endpoint.response),
            **{status: _error(status) for status in _error_statuses(endpoint)},
        },
    }
    # The permission the caller's role needs (null: any user); the permission matrix test
    # reads it from here.
    operation["x-permission"] = endpoint.permission.value if endpoint.permission else None
    if endpoint.access is Access.PUBLIC:
        operation["security"] = []
    if endpoint.handler.__doc__:
        operation["description"] = inspect.cleandoc(endpoint.handler.__doc__)
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(endpoint.body)}},
        }
    return operation


_ERRORS = {
    "400": "the request body is not valid JSON (or nests deeper than it may)",
    "401": "missing or unknown bearer token or session (or, signing in, wrong credentials)",
    "403": "the caller's role may not do this (`code`: missing_permission, not_yours, "
    "not_your_team, reassign_not_allowed...), or a cookie request lacks its X-CSRF-Token",
    "404": "no such object in the caller's workspace",
    "408": f"the request body did not arrive in time: {BODY_SECONDS} s and a second per "
    f"{MIN_BODY_BYTES_PER_SECOND:,} bytes that came",
    "409": "the object's state does not allow this",
    "413": "the request body is larger than the server reads: 16 KiB where anyone may call "
    "(signing in, password resets), 32 MiB elsewhere",
    "415": "the request body declares a Content-Encoding: bodies are read as sent, never decoded",
    "422": "invalid input; `fields` names each offending field (`code` provider_check_failed: "
    "the provider refused a channel account, or could not be reached, when asked to check it)",
    "426": "a WebSocket endpoint asked without the WebSocket upgrade",
    "429": "too many requests without a valid token from this address (or failed sign-ins for "
    "this email from it); retry after Retry-After",
    "503": "the hub cannot reach its database or queue now; retry after Retry-After",
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds until it is worth asking again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _error_statuses(endpoint: Endpoint) -> list[str]:
    """The errors this endpoint can answer: each only where the input it concerns exists."""
    if endpoint.response is Upgraded:
        upgrade = ["401", "426", "429", "503"]
        return sorted(upgrade + ["422"]) if endpoint.query is not None else upgrade
    statuses = ["401", "409", "429", "503"]
    if endpoint.access is not Access.PUBLIC:
        statuses.append("403")
    if endpoint.path_parameters.model_fields:
        statuses.append("404")
    if endpoint.query is not None or endpoint.body is not None:
        statuses.append("422")
    if endpoint.body is not None:
        statuses += ["400", "408", "413", "415"]
    return sorted(statuses)


def _error(status: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERRORS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if status in ("429", "503"):
        response["headers"] = _RETRY_AFTER
    return response


def _success(
    response: type[BaseModel] | type[Download] | type[Upgraded] | type[Streamed],
) -> dict[str, Any]:
    if response is Upgraded:
        return {"description": "switched to the WebSocket protocol"}
    if issubclass(response, Streamed):
        return {
            "description": "the file, written as it is read, as an attachment",
            "content": {
                media_type: {"schema": {"type": "string"}} for media_type in response.media_types
            },
        }
    if issubclass(response, Download):
        return {
            "description": "the file's bytes, with its own Content-Type, as an attachment",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    return {"description": "success", "content": {"application/json": {"schema": _ref(response)}}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(model: type[BaseModel], location: str) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": location,
            "required": name in required,
            "schema": _parameter_schema(prop),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _parameter_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A field's schema as a parameter's: a parameter is present or absent, never null."""
    schema = {k: v for k, v in prop.items() if k not in ("title", "anyOf", "default")}
    branches = [b for b in prop.get("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        schema = {**branches[0], **schema}
    elif branches:
        schema["anyOf"] = branches
    if prop.get("default") is not None:
        schema["default"] = prop["default"]
    return schema
