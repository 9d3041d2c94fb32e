"""Several serving processes, one mailbox: only the lease holder reads it; a survivor takes over."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.config import Settings
from hub.context import Hub
from tests.channels.email import smtp_server as smtp_testing
from tests.channels.email.dovecot import ImapAccount
from tests.channels.email.smtp_server import SmtpServer
from tests.channels.email.tcp_proxy import TcpProxy
from tests.channels.email.test_email_channel import add_mailbox, mail
from tests.conftest import TEST_BASE_URL, TEST_SECRET_KEY, free_port
from tests.hub.test_cli import SWITCHBOARD
from tests.workspace import seed_workspace
from timeline.models import PullLease, TimelineEvent

smtp_server = smtp_testing.smtp_server  # the fixture, bound here so pytest finds it
LEASE_SECONDS = 1.5


@pytest.fixture
async def follower(database_url: str) -> AsyncIterator[Hub]:
    """A hub in this process that serves pull channels with a short lease (started later)."""
    settings = Settings(
        database_url, None, TEST_SECRET_KEY, TEST_BASE_URL, "127.0.0.1", 0, LEASE_SECONDS
    )
    hub = Hub(settings, scheduler_interval=0.1)
    yield hub
    await hub.stop()


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start `switchboard serve` processes on the test's database; all are killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")},
            "SWITCHBOARD_DATABASE_URL": database_url,
            "SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY,
            "SWITCHBOARD_PORT": str(free_port()),
            "SWITCHBOARD_PULL_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        log = (tmp_path / f"serve-{len(started)}.log").open("wb")
        process = subprocess.Popen([SWITCHBOARD, "serve"], env=env, stdout=log, stderr=log)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_one_process_reads_a_mailbox_and_another_takes_over_when_it_is_killed(
    follower: Hub,
    serve: Callable[[], subprocess.Popen[bytes]],
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
) -> None:
    # The mailbox is reached through a proxy that counts the readers' connections.
    async with TcpProxy(imap_account.host, imap_account.port) as proxy:
        ws = await seed_workspace(follower)
        await add_mailbox(follower, ws, imap_account.url(port=proxy.port), smtp_server.url())

        async def holder() -> str | None:
            async with follower.engine.connect() as conn:
                return (await conn.execute(select(PullLease.holder))).scalar_one_or_none()

        async def imported() -> int:
            async with follower.engine.connect() as conn:
                query = select(func.count()).select_from(TimelineEvent)
                return (await conn.execute(query)).scalar_one()

        leader = serve()
        await _eventually(
            lambda: _holds(holder, f":{leader.pid}:"), "the serving process to take the lease"
        )
        await follower.start()
        imap_account.append(*(mail(f"c{n}@customer.test", f"Question {n}", "hi") for n in range(3)))
        await _eventually(lambda: _equals(imported, 3), "the leader to import the first mails")
        await asyncio.sleep(3 * LEASE_SECONDS)  # long past one lease: the leader keeps renewing
        assert f":{leader.pid}:" in (await holder() or "")
        assert (proxy.accepted, proxy.live_connections) == (1, 1)  # the follower never connected

        leader.send_signal(signal.SIGKILL)  # no clean shutdown: its lease is left to expire
        leader.wait()
        imap_account.append(*(mail(f"d{n}@customer.test", f"Later {n}", "hi") for n in range(2)))
        await _eventually(lambda: _equals(imported, 5), "the follower to take over and import")
        assert f":{os.getpid()}:" in (await holder() or "")
        assert (proxy.accepted, proxy.live_connections) == (2, 1)

        await follower.stop()  # a clean stop gives the lease up at once
        assert await holder() is None


async def _holds(holder: Callable[[], Awaitable[str | None]], marker: str) -> bool:
    return marker in (await holder() or "")


async def _equals(count: Callable[[], Awaitable[int]], expected: int) -> bool:
    return await count() == expected
