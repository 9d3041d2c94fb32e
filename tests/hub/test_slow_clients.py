"""Clients that send too slowly are not waited for: a connection without a whole request in time
is closed, a body that trickles is answered 408 (nothing of it kept), and a large body on a slow
but steady link still arrives. The limits are shortened here; their real values are in
hub.request_bodies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from hub import request_bodies
from hub.context import Hub
from hub.request_bodies import IDLE_SECONDS, SERVER_OPTIONS
from tests.workspace import seed_workspace
from timeline.models import QuarantinedPayload

WAIT_SECONDS = 10
"""How long a test waits for the server's answer: far past every shortened limit."""


@pytest.fixture
def short_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SERVER_OPTIONS["keepalive_timeout"] == IDLE_SECONDS  # what every app is served with
    monkeypatch.setitem(SERVER_OPTIONS, "keepalive_timeout", 1)


@pytest.fixture
def short_body_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request_bodies, "BODY_SECONDS", 0.5)


async def _connect(client: TestClient) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert client.server.host is not None and client.server.port is not None
    return await asyncio.open_connection(client.server.host, client.server.port)


async def _answer(reader: asyncio.StreamReader) -> bytes:
    return await asyncio.wait_for(reader.read(), WAIT_SECONDS)


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /api/v1/session HTTP/1.1\r\nHost: hub.test\r\n"],
    ids=["nothing", "half the headers"],
)
async def test_a_connection_without_a_whole_request_in_time_is_closed(
    short_idle: None, client: TestClient, sent: bytes
) -> None:
    reader, writer = await _connect(client)
    writer.write(sent)
    await writer.drain()
    assert await _answer(reader) == b"", "the server closed it without an answer"
    writer.close()


async def test_a_keep_alive_connection_left_idle_after_an_answer_is_closed(
    short_idle: None, client: TestClient
) -> None:
    reader, writer = await _connect(client)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\n\r\n")
    await writer.drain()
    answered = await _answer(reader)
    assert answered.startswith(b"HTTP/1.1 200")
    writer.close()


async def _trickled(client: TestClient, path: str, content_type: str) -> tuple[int, dict[str, Any]]:
    reader, writer = await _connect(client)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: hub.test\r\nContent-Type: {content_type}\r\n"
        "Content-Length: 1000\r\n\r\n{".encode()
    )
    await writer.drain()
    status, body = await _response(reader)
    writer.close()
    return status, json.loads(body)


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The answer's status and body, read by its length: the connection may stay open after."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_SECONDS)
    lines = head.decode().split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:] if line)
    body = await reader.readexactly(int(fields["Content-Length"]))
    return int(lines[0].split(" ")[1]), body


async def test_a_trickled_api_body_is_answered_408(
    short_body_time: None, client: TestClient
) -> None:
    status, body = await _trickled(client, "/api/v1/session", "application/json")
    assert (status, body["error"]["code"]) == (408, "request_timeout")


async def test_a_trickled_webhook_is_answered_408_and_kept_nowhere(
    short_body_time: None, hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    path = ws.sms_webhook_path
    status, body = await _trickled(client, path, "application/x-www-form-urlencoded")
    assert (status, body["error"]["code"]) == (408, "request_timeout")
    async with hub.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(QuarantinedPayload)) == 0


async def test_a_large_body_on_a_slow_steady_link_arrives(
    short_body_time: None, client: TestClient
) -> None:
    """Three KB a second apart: twice BODY_SECONDS in all, each KB buying a second more."""
    body = json.dumps({"email": "ann@acme.test", "password": "x" * 2900}).encode()
    reader, writer = await _connect(client)
    writer.write(
        b"POST /api/v1/session HTTP/1.1\r\nHost: hub.test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    )
    for start in range(0, len(body), 1000):
        writer.write(body[start : start + 1000])
        await writer.drain()
        await asyncio.sleep(0.4)
    status, answer = await _response(reader)
    writer.close()
    assert status != 408, answer
    assert status in (401, 422)
