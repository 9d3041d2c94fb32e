"""`switchboard serve --processes N`: N web processes on one port, started and stopped as one."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import TEST_SECRET_KEY, free_port
from tests.hub.test_cli import SWITCHBOARD, run


def children_of(pid: int) -> set[int]:
    listed = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return {int(line) for line in listed.stdout.split()}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def wait_until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"still not true after {seconds} s")


class ForkedHub:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.children = children_of(process.pid)


@pytest.fixture
def forked_hub(database_url: str) -> Iterator[ForkedHub]:
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": database_url,
        "SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY,
        "SWITCHBOARD_PORT": str(port),
    }
    process = subprocess.Popen(
        [SWITCHBOARD, "serve", "--processes", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_until(lambda: len(children_of(process.pid)) == 2)
        yield ForkedHub(process, port)
    finally:
        for pid in [*children_of(process.pid), process.pid]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)


async def ready_answers(port: int, count: int) -> list[int]:
    """Statuses of /readyz over `count` new connections (each may land on another process)."""
    statuses = []
    for _ in range(count):
        async with aiohttp.ClientSession() as session:
            for _attempt in range(200):
                try:
                    async with session.get(f"http://127.0.0.1:{port}/readyz") as response:
                        statuses.append(response.status)
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
    return statuses


def test_several_processes_need_postgresql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/one-writer.db"
    assert run(url, "migrate").returncode == 0
    result = run(url, "serve", "--processes", "2")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "switchboard: --processes above 1 needs PostgreSQL: SQLite has a single writer"
    ]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_both_processes_serve_and_sigterm_stops_them_all(forked_hub: ForkedHub) -> None:
    assert await ready_answers(forked_hub.port, 10) == [200] * 10
    forked_hub.process.send_signal(signal.SIGTERM)
    assert forked_hub.process.wait(timeout=30) == 0
    assert not any(alive(pid) for pid in forked_hub.children)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_process_that_dies_takes_the_others_down_with_status_1(
    forked_hub: ForkedHub,
) -> None:
    assert await ready_answers(forked_hub.port, 2) == [200, 200]
    first, second = sorted(forked_hub.children)
    os.kill(first, signal.SIGKILL)
    assert forked_hub.process.wait(timeout=30) == 1
    wait_until(lambda: not alive(second))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_processes_stop_when_their_parent_is_killed(forked_hub: ForkedHub) -> None:
    assert await ready_answers(forked_hub.port, 2) == [200, 200]
    forked_hub.process.kill()
    forked_hub.process.wait(timeout=30)
    wait_until(lambda: not any(alive(pid) for pid in forked_hub.children))
