"""Requests too broken for the app still get the JSON error shape, and quote nothing sent."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient

from tests.conftest import TEST_SECRET_KEY, free_port
from tests.hub.test_cli import SWITCHBOARD
from tests.hub.test_serve_processes import ready_answers

SECRET = "Bearer sbt_the-token-a-proxy-forwarded"


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes; the status, headers and body of the answer (read to the close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


OVERSIZE_HEADER = (
    f"GET /healthz HTTP/1.1\r\nHost: hub\r\nAuthorization: {SECRET}{'A' * 9000}\r\n\r\n"
).encode()
OVERSIZE_LINE = f"GET /healthz?{SECRET}{'A' * 9000} HTTP/1.1\r\nHost: hub\r\n\r\n".encode()
NOT_HTTP = f"{SECRET}\r\n\r\n".encode()


def assert_generic_json_error(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status in (400, 431)
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "fields"} and error["fields"] == {}
    assert b"sbt_" not in body and b"AAAA" not in body


@pytest.mark.parametrize("request_bytes", [OVERSIZE_HEADER, OVERSIZE_LINE, NOT_HTTP])
async def test_unreadable_requests_get_a_json_error_that_echoes_nothing(
    client: TestClient, request_bytes: bytes
) -> None:
    assert client.port is not None
    status, headers, body = await exchange(client.port, request_bytes)
    assert_generic_json_error(status, headers, body)


@pytest.fixture
def served_process(database_url: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": database_url,
        "SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY,
        "SWITCHBOARD_PORT": str(port),
    }
    process = subprocess.Popen(
        [SWITCHBOARD, "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
async def test_switchboard_serve_answers_in_json_and_stops_cleanly(
    served_process: tuple[subprocess.Popen[str], int], stop_signal: signal.Signals
) -> None:
    process, port = served_process
    assert await ready_answers(port, 1) == [200]
    assert_generic_json_error(*await exchange(port, OVERSIZE_HEADER))
    process.send_signal(stop_signal)
    assert await asyncio.to_thread(process.wait, 30) == 0
