"""Builds the OpenAPI 3.1 document from the declared endpoints and their pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hub.api.framework import ApiRoutes, Download, Endpoint

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
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint, path)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchboard API", "version": "1"},
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


def _operation(endpoint: Endpoint, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler.__name__,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": _path_parameters(path) + _query_parameters(endpoint),
        "responses": {
            str(endpoint.status): _success(endpoint.response),
            **{
                status: {
                    "description": text,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                    },
                }
                for status, text in _ERRORS.items()
            },
        },
    }
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(endpoint.body)}},
        }
    return operation


_ERRORS = {
    "401": "missing or unknown bearer token",
    "403": "the caller's role may not do this",
    "404": "no such object in the caller's workspace",
    "409": "the object's state does not allow this",
    "422": "invalid input; `fields` names each offending field",
}


def _success(response: type[BaseModel] | type[Download]) -> dict[str, Any]:
    if issubclass(response, Download):
        return {
            "description": "the file's bytes, with its own Content-Type, as an attachment",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        }
    return {"description": "success", "content": {"application/json": {"schema": _ref(response)}}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
        for name in re.findall(r"{(\w+)}", path)
    ]


def _query_parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    if endpoint.query is None:
        return []
    schema = endpoint.query.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {k: v for k, v in prop.items() if k != "title"},
        }
        for name, prop in schema.get("properties", {}).items()
    ]
