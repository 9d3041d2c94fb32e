"""Real `switchboard serve` processes on a test's database, for tests across processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from tests.conftest import TEST_SECRET_KEY, free_port
from tests.hub.test_cli import SWITCHBOARD


@contextmanager
def serving(database_url: str, logs: Path, count: int = 2, **env: str) -> Iterator[list[str]]:
    """`count` serve processes (with `env` added to theirs); their base URLs. Killed after."""
    processes, urls = [], []
    for number in range(count):
        port = free_port()
        environment = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
            "SWITCHBOARD_DATABASE_URL": database_url,
            "SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY,
            "SWITCHBOARD_PORT": str(port),
            **env,
        }
        log = (logs / f"serve-{number}.log").open("wb")
        processes.append(
            subprocess.Popen([SWITCHBOARD, "serve"], env=environment, stdout=log, stderr=log)
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGKILL)
            process.wait()


async def ready(http: aiohttp.ClientSession, base_url: str) -> None:
    """Returns once the server at `base_url` answers /readyz."""
    for _ in range(300):
        try:
            async with http.get(f"{base_url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{base_url} did not start")
