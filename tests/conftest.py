"""Real databases for the suite (every database test runs on SQLite and on PostgreSQL), a hub,
an API client and a checker of its answers against the OpenAPI document."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import jsonschema
import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner

from hub.config import Settings
from hub.migrate import upgrade

POSTGRES_ADMIN_DSN = os.environ.get(
    "SWITCHBOARD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("SWITCHBOARD_TEST_REDIS", "redis://127.0.0.1:6379/13")
IN_CI = os.environ.get("CI", "").lower() == "true"
TEST_SECRET_KEY = "test-secret-key-of-at-least-thirty-two-characters"
TEST_BASE_URL = "http://hub.test"


def unavailable(what: str) -> None:
    """Skip a test whose real component is missing here; under CI=true that is a failure."""
    message = f"{what} is not available"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true requires it", pytrace=False)
    pytest.skip(message)


def _postgres_dsn(database: str) -> str:
    return POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test clones (CREATE DATABASE ... TEMPLATE)."""
    name = f"switchboard_tmpl_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        unavailable(f"PostgreSQL at {POSTGRES_ADMIN_DSN} ({error})")
    upgrade(_postgres_dsn(name).replace("postgresql://", "postgresql+asyncpg://"))
    yield name
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "switchboard.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test, on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "switchboard.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"switchboard_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield _postgres_dsn(name).replace("postgresql://", "postgresql+asyncpg://")
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database number of the suite's own, emptied before and after the test."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.flushdb()
    except redis.ConnectionError as error:
        unavailable(f"Redis at {REDIS_TEST_URL} ({error})")
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=None,
        secret_key=TEST_SECRET_KEY,
        base_url=TEST_BASE_URL,
        host="127.0.0.1",
        port=0,
        provider_urls_by_api=True,  # channels are checked against the suite's fake providers
    )


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[object]:
    """A started Hub (in-process jobs, fast scheduler) on the test's database."""
    from hub.context import Hub

    instance = Hub(settings, scheduler_interval=0.1, pull_channels=False)
    yield instance
    await instance.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True, slots=True)
class ServedHub:
    """A hub serving HTTP on a real loopback port whose public URL is that port."""

    hub: object
    base_url: str


class HubTestServer(TestServer):
    """aiohttp's test server, running the app the way `switchboard serve` does: its connection
    handlers, and handlers left to finish when their client goes away (aiohttp's test server
    would cancel them, which `serve` never does; a cancel that lands while SQLAlchemy checks a
    connection out of its pool loses that connection, and with SQLite's single one every
    request after it waited out the pool's timeout)."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        from hub.serving import HubRunner

        return HubRunner(self.app, **{**kwargs, "handler_cancellation": False})


@pytest.fixture
async def served_hub(database_url: str) -> AsyncIterator[ServedHub]:
    from hub.app import create_app
    from hub.context import Hub

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    instance = Hub(
        Settings(database_url, None, TEST_SECRET_KEY, base_url, "127.0.0.1", port),
        scheduler_interval=0.1,
    )
    server = HubTestServer(create_app(instance), host="127.0.0.1", port=port)
    await server.start_server()
    yield ServedHub(instance, base_url)
    await server.close()


@pytest.fixture
async def client(hub: object, aiohttp_client: Any) -> AsyncIterator[TestClient]:
    """A test client of the app serving the `hub` fixture."""
    from hub.app import create_app

    yield await aiohttp_client(HubTestServer(create_app(hub)))


HubAndClient = Callable[..., Awaitable[tuple[Any, TestClient]]]


@pytest.fixture
async def hub_and_client(settings: Settings, aiohttp_client: Any) -> AsyncIterator[HubAndClient]:
    """Makes a Hub whose settings differ from the test's by the keywords given, and a test
    client of its app."""
    from hub.app import create_app
    from hub.context import Hub

    made: list[Hub] = []

    async def make(**changed: Any) -> tuple[Hub, TestClient]:
        made.append(Hub(dataclasses.replace(settings, **changed), pull_channels=False))
        return made[-1], await aiohttp_client(HubTestServer(create_app(made[-1])))

    yield make
    for hub in made:
        await hub.stop()


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
