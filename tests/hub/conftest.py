"""API test plumbing: a client of the hub's app and a checker of answers against its OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient

from hub.app import create_app
from hub.context import Hub


@pytest.fixture
async def client(hub: Hub, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    yield await aiohttp_client(create_app(hub))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class OpenApiChecker:
    """Validates each answer against the schema the OpenAPI document declares for it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def check(self, method: str, template: str, status: int, body: Any) -> None:
        operation = self.document["paths"][template][method.lower()]
        schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
        resolver_doc = {**schema, "components": self.document["components"]}
        jsonschema.validate(body, resolver_doc)


@pytest.fixture
async def openapi(client: TestClient) -> OpenApiChecker:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    return OpenApiChecker(await response.json())
