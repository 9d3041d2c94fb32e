"""Shared benchmark plumbing: a scratch PostgreSQL database, a served hub, percentiles."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp
import asyncpg

POSTGRES_ADMIN_DSN = os.environ.get(
    "SWITCHBOARD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SWITCHBOARD_BENCH_REDIS", "redis://127.0.0.1:6379/14")
SECRET_KEY = "benchmark-secret-key-of-at-least-32-chars"
SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))


@dataclass(frozen=True, slots=True)
class HubCode:
    """Which code runs the hub: this checkout's `switchboard`, or another checkout's (a commit
    to compare with) on this environment's packages."""

    argv: tuple[str, ...]
    checkout: str | None = None

    @classmethod
    def at(cls, checkout: str) -> HubCode:
        return cls((sys.executable, "-m", "hub.cli"), str(Path(checkout).resolve()))

    @property
    def serving(self) -> str:
        """What the command lines of its serving processes contain (for `cpu_seconds`): the
        executable, so that a hub another environment serves on the machine is not counted."""
        return " ".join((*self.argv, "serve"))

    def popen_options(self, env: dict[str, str]) -> dict[str, Any]:
        if self.checkout is None:
            return {"env": env}
        return {"env": {**env, "PYTHONPATH": self.checkout}, "cwd": self.checkout}


THIS_CHECKOUT = HubCode((SWITCHBOARD,))


@dataclass(frozen=True, slots=True)
class ScratchDatabase:
    name: str
    dsn: str

    @property
    def sqlalchemy_url(self) -> str:
        return self.dsn.replace("postgresql://", "postgresql+asyncpg://")


@asynccontextmanager
async def scratch_database(prefix: str) -> AsyncIterator[ScratchDatabase]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield ScratchDatabase(name, POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


_REPORTED_SETTINGS = ("autovacuum", "synchronous_commit", "shared_buffers", "max_wal_size")


async def server_settings(database: ScratchDatabase) -> str:
    """The PostgreSQL version and the settings that move the figures, as one line to print.

    Machines differ in these (one ran with autovacuum off, which leaves statistics as they
    were for the whole run), so every run says what it measured on.
    """
    conn = await asyncpg.connect(database.dsn)
    try:
        version, *values = await conn.fetchrow(
            "SELECT current_setting('server_version'), "
            + ", ".join(f"current_setting('{name}')" for name in _REPORTED_SETTINGS)
        )
    finally:
        await conn.close()
    named = (f"{name} {value}" for name, value in zip(_REPORTED_SETTINGS, values, strict=True))
    return f"PostgreSQL {version.split()[0]}: " + ", ".join(named)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def hub_environment(database: ScratchDatabase, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "SWITCHBOARD_DATABASE_URL": database.sqlalchemy_url,
        "SWITCHBOARD_REDIS_URL": REDIS_URL,
        "SWITCHBOARD_SECRET_KEY": SECRET_KEY,
        "SWITCHBOARD_HOST": "127.0.0.1",
        "SWITCHBOARD_PORT": str(port),
        "SWITCHBOARD_BASE_URL": f"http://127.0.0.1:{port}",
    }


def run_cli(env: dict[str, str], *args: str, code: HubCode = THIS_CHECKOUT) -> str:
    result = subprocess.run(
        [*code.argv, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        **code.popen_options(env),
    )
    if result.returncode != 0:
        raise RuntimeError(f"switchboard {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


@asynccontextmanager
async def served_hub(
    env: dict[str, str], processes: int = 1, code: HubCode = THIS_CHECKOUT
) -> AsyncIterator[str]:
    """`switchboard serve` in a child process; yields its base URL once it answers /readyz.

    The server's log goes to a file (a pipe nobody reads would fill up and stall the server).
    """
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*code.argv, "serve", "--processes", str(processes)],
            stdout=log,
            stderr=log,
            **code.popen_options(env),
        )
        base_url = env["SWITCHBOARD_BASE_URL"]
        try:
            await _wait_ready(base_url, process, log)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=30)


async def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + 60
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the hub exited: {log.read().decode()[-2000:]}")
            try:
                async with session.get(f"{base_url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the hub did not become ready within 60 s")


def cpu_seconds(command: str) -> float:
    """User + system CPU seconds used so far by the live processes whose command line contains
    `command` (Linux /proc; 0.0 elsewhere). A rate's CPU cost per item is far steadier on
    a shared machine than the rate itself."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if command in cmdline:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def client_gc_paused() -> Iterator[None]:
    """The load client's own cyclic garbage collection off while it measures, on after.

    The client holds every prepared request and every task of a phase; a full collection of
    them paused it for tens of milliseconds and more (docs/performance.md), and a paced
    request's latency counts from when it was due, so each such pause was counted as the hub's
    acknowledgement latency. What the phase leaves behind is collected after it.
    """
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


Measured = TypeVar("Measured")


def median_round(rounds: list[Measured], measure: Callable[[Measured], float]) -> Measured:
    """The round whose `measure` is the median (the upper one of an even count)."""
    return sorted(rounds, key=measure)[len(rounds) // 2]
