"""Forged webhooks cannot grow the hub: 256 forged 10 MB webhooks to a real channel leave the
serving process's resident memory within 50 MB of where it started, and gzip bombs small enough
to pass the channel's limit never raise it by as much while they arrive."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import TEST_SECRET_KEY, free_port
from tests.hub.test_cli import SWITCHBOARD

FORGED = 256
BODY_BYTES = 10 * 1024 * 1024
ALLOWED_GROWTH_BYTES = 50 * 1024 * 1024


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`switchboard serve` on a demo workspace; the process and its SMS webhook URL."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
        "SWITCHBOARD_DATABASE_URL": f"sqlite:///{tmp_path}/memory.db",
        "SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY,
        "SWITCHBOARD_PORT": str(port),
    }
    for command in (["migrate"], ["demo", "--json"]):
        done = subprocess.run(
            [SWITCHBOARD, *command], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
    webhook_url = json.loads(done.stdout)["channels"]["sms"]["webhook_url"]
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([SWITCHBOARD, "serve"], env=env, stdout=log, stderr=log)
    yield process, webhook_url
    process.send_signal(signal.SIGKILL)
    process.wait()


def _resident_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


async def _forge(url: str, chunked: bool) -> bytes:
    """One forged webhook of BODY_BYTES, sent whole; the status line of the answer."""
    split = urlsplit(url)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY_BYTES}"
    head = (
        f"POST {split.path} HTTP/1.1\r\nHost: {split.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"X-Twilio-Signature: forged\r\n{framing}\r\nConnection: close\r\n\r\n"
    ).encode()
    piece = b"Body=" + b"x" * (1024 * 1024 - 5)
    reader, writer = await asyncio.open_connection(split.hostname, split.port)
    try:
        writer.write(head)
        for _ in range(BODY_BYTES // len(piece)):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            await writer.drain()
        if chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        return await reader.readline()
    except ConnectionError:
        return b"(closed while sending)"
    finally:
        writer.close()


async def _answering(url: str) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection(urlsplit(url).hostname, urlsplit(url).port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)


def _gzip_bomb(inflated_mib: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * 2**20
    return b"".join(compressor.compress(zeros) for _ in range(inflated_mib)) + compressor.flush()


async def _send_gzip(url: str, body: bytes) -> bytes:
    """POST `body` declared as gzip; the status line of the answer."""
    split = urlsplit(url)
    head = (
        f"POST {split.path} HTTP/1.1\r\nHost: {split.netloc}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Encoding: gzip\r\n"
        f"X-Twilio-Signature: forged\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection(split.hostname, split.port)
    try:
        writer.write(head + body)
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
async def test_gzip_bombs_within_the_channels_limit_are_never_inflated(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    """60 MiB of zeros gzip to 61 KB, under the SMS channel's 64 KB: inflated as they arrived,
    eight at once raised the process's memory by 153 MiB before their 413s."""
    process, url = served
    await _answering(url)
    bomb = _gzip_bomb(60)
    assert len(bomb) < 64 * 1024
    before = peak = _resident_bytes(process.pid)
    sending = asyncio.gather(*(_send_gzip(url, bomb) for _ in range(8)))
    while not sending.done():
        peak = max(peak, _resident_bytes(process.pid))
        await asyncio.sleep(0.005)
    answers = await sending
    assert all(a.startswith((b"HTTP/1.1 415", b"HTTP/1.1 429")) for a in answers), set(answers)
    assert peak - before < ALLOWED_GROWTH_BYTES, f"rose by {(peak - before) / 2**20:.1f} MiB"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
async def test_forged_ten_megabyte_webhooks_leave_no_trace_in_memory(
    served: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = served
    await _answering(url)
    for chunked in (False, True):  # warm the server's buffers up before measuring
        await _forge(url, chunked)
    before = _resident_bytes(process.pid)
    answers: list[bytes] = []
    for start in range(0, FORGED, 8):
        answers += await asyncio.gather(*(_forge(url, n % 2 == 1) for n in range(start, start + 8)))
    after = _resident_bytes(process.pid)
    assert all(a.startswith((b"HTTP/1.1 413", b"HTTP/1.1 429")) for a in answers), set(answers)
    assert after - before < ALLOWED_GROWTH_BYTES, f"grew by {(after - before) / 2**20:.1f} MiB"
