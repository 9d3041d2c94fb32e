"""One message never stops a mailbox: a NUL is stored as U+FFFD, a message the database refuses
is quarantined and the rest imported, in `email sync --once` and in the serving reader; a
mailbox added or deactivated while serving is picked up or let go."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from hub.config import Settings
from hub.context import Hub
from hub.provisioning import ChannelChange, update_channel
from tests.channels.email import smtp_server as smtp_testing
from tests.channels.email.dovecot import ImapAccount
from tests.channels.email.smtp_server import SmtpServer
from tests.channels.email.test_email_channel import add_mailbox, mail
from tests.hub.test_cli import run
from tests.refusing_database import refuse_bodies_containing
from tests.workspace import seed_workspace
from timeline.models import QuarantinedPayload, TimelineEvent

smtp_server = smtp_testing.smtp_server  # the fixture, bound here so pytest finds it


@pytest.fixture
async def serving(settings: Settings) -> AsyncIterator[Hub]:
    """A hub that reads its mailboxes once started, as `switchboard serve` does."""
    hub = Hub(replace(settings, pull_lease_seconds=1.5), scheduler_interval=0.1)
    yield hub
    await hub.stop()


def _quoted_printable_with_nul() -> bytes:
    return (
        b"From: nul@customer.test\r\nTo: support@shop.test\r\nSubject: Odd bytes\r\n"
        b"Message-ID: <nul@customer.test>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\nbefore=00after\r\n"
    )


async def _count(hub: Hub, model: type) -> int:
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def _bodies(hub: Hub) -> list[str]:
    async with hub.engine.connect() as conn:
        rows = await conn.execute(select(TimelineEvent.body).order_by(TimelineEvent.id))
        return [body.strip() for body in rows.scalars()]


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_email_sync_imports_a_nul_message_with_the_good_ones(
    hub: Hub, database_url: str, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = await seed_workspace(hub)
    channel_id = await add_mailbox(hub, ws, imap_account.url(), smtp_server.url())
    imap_account.append(
        mail("ann@customer.test", "One", "first"),
        _quoted_printable_with_nul(),
        mail("bob@customer.test", "Three", "third"),
    )
    synced = run(database_url, "channel", "sync", str(channel_id), "--once")
    assert synced.returncode == 0, synced.stderr
    assert "imported 3, duplicates 0, quarantined 0" in synced.stdout
    assert await _bodies(hub) == ["first", "before\ufffdafter", "third"]
    again = run(database_url, "channel", "sync", str(channel_id), "--once")
    assert "imported 0, duplicates 0, quarantined 0" in again.stdout


async def test_email_sync_quarantines_what_the_database_refuses_and_moves_on(
    hub: Hub, database_url: str, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = await seed_workspace(hub)
    channel_id = await add_mailbox(hub, ws, imap_account.url(), smtp_server.url())
    await refuse_bodies_containing(hub.engine, "poison")
    imap_account.append(
        mail("ann@customer.test", "One", "first"),
        mail("eve@customer.test", "Two", "a poison pill"),
        mail("bob@customer.test", "Three", "third"),
    )
    synced = run(database_url, "channel", "sync", str(channel_id), "--once")
    assert synced.returncode == 0, synced.stderr
    assert "imported 2, duplicates 0, quarantined 1" in synced.stdout
    assert await _bodies(hub) == ["first", "third"]
    async with hub.engine.connect() as conn:
        kept = (await conn.execute(select(QuarantinedPayload))).one()
    assert b"a poison pill" in kept.body
    assert "the database refused it" in kept.error and "poison refused" in kept.error
    again = run(database_url, "channel", "sync", str(channel_id), "--once")
    assert "imported 0, duplicates 0, quarantined 0" in again.stdout, "the cursor moved on"


async def test_the_serving_reader_quarantines_what_the_database_refuses_and_reads_on(
    serving: Hub, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    hub = serving
    ws = await seed_workspace(hub)
    await add_mailbox(hub, ws, imap_account.url(), smtp_server.url())
    await refuse_bodies_containing(hub.engine, "poison")
    imap_account.append(
        mail("ann@customer.test", "One", "first"),
        mail("eve@customer.test", "Two", "a poison pill"),
        _quoted_printable_with_nul(),
    )
    await hub.start()

    async def two_stored_one_quarantined() -> bool:
        return (await _count(hub, TimelineEvent), await _count(hub, QuarantinedPayload)) == (2, 1)

    await _eventually(two_stored_one_quarantined, "the batch taken in one by one")
    imap_account.append(mail("bob@customer.test", "Four", "later"))

    async def the_next_mail_stored() -> bool:
        return await _count(hub, TimelineEvent) == 3

    await _eventually(the_next_mail_stored, "the reader to read on")
    assert await _bodies(hub) == ["first", "before\ufffdafter", "later"]


async def test_a_mailbox_added_while_serving_is_read_and_let_go_when_deactivated(
    serving: Hub, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    hub = serving
    ws = await seed_workspace(hub)
    await hub.start()
    channel_id = await add_mailbox(hub, ws, imap_account.url(), smtp_server.url())
    imap_account.append(mail("ann@customer.test", "Hello", "added while serving"))

    async def stored(count: int) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return await _count(hub, TimelineEvent) == count

        return check

    await _eventually(await stored(1), "the new mailbox to be read")
    async with hub.engine.begin() as conn:
        await update_channel(conn, hub.secrets, channel_id, ChannelChange(active=False))
    await asyncio.sleep(3)  # past the rescan: the reader has stopped
    imap_account.append(mail("bob@customer.test", "Hi", "while deactivated"))
    await asyncio.sleep(3)
    assert await _count(hub, TimelineEvent) == 1
    async with hub.engine.begin() as conn:
        await update_channel(conn, hub.secrets, channel_id, ChannelChange(active=True))
    await _eventually(await stored(2), "the mailbox to be read again once active")
