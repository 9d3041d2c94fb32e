"""Tests of the IMAP transport against a real Dovecot (see conftest.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from channels.email import imap as imap_module
from channels.email.imap import MAX_BATCH_SIZE, ImapMailbox, MailboxCursor
from channels.email.imap_errors import ImapAuthFailed, ImapCommandFailed, ImapConnectionLost
from channels.email.imap_responses import FetchedMessage, encode_mailbox_name
from channels.email.imap_url import MailboxUrl
from tests.channels.email.dovecot import ImapAccount
from tests.channels.email.tcp_proxy import TcpProxy

# --- helpers ------------------------------------------------------------------------------


def make_message(number: int, body_size: int = 0) -> bytes:
    """A CRLF message; the body teases a naive parser with IMAP-looking text and 8-bit bytes."""
    filler = b"".join(
        f"line {i:06d} of message {number} ........................................\r\n".encode()
        for i in range(body_size // 64)
    )
    return (
        f"From: Customer {number} <customer{number}@example.com>\r\n"
        f"To: support@example.org\r\n"
        f"Subject: Question number {number}\r\n"
        f"Message-ID: <msg-{number}@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"Hello, this is message {number}.\r\n"
        "* 1 FETCH (UID 999 BODY[] {5}\r\n"
        "A001 OK pretend completion ) ((\r\n"
        ".\r\n"
        "Gr\u00fc\u00dfe, \u0434\u043e \u0441\u0432\u0438\u0434\u0430\u043d\u0438\u044f\r\n"
    ).encode() + filler


async def collect(
    mailbox: ImapMailbox, cursor: MailboxCursor | None, batch_size: int = 100
) -> list[list[FetchedMessage]]:
    return [batch async for batch in mailbox.fetch_since(cursor, batch_size)]


def flat(batches: list[list[FetchedMessage]]) -> list[FetchedMessage]:
    return [message for batch in batches for message in batch]


# --- fetching -----------------------------------------------------------------------------


@pytest.mark.parametrize("ignored", [(), ("ESEARCH",)], ids=["esearch", "plain-search"])
async def test_fetch_from_no_cursor_returns_everything_in_batches_in_uid_order(
    imap_account: ImapAccount, ignored: tuple[str, ...]
) -> None:
    sent = [make_message(n, body_size=n * 3000) for n in range(1, 8)]
    uids = imap_account.append(*sent)

    async with ImapMailbox(imap_account.url(), ignore_capabilities=ignored) as mailbox:
        batches = await collect(mailbox, None, batch_size=3)

    assert [len(batch) for batch in batches] == [3, 3, 1]
    messages = flat(batches)
    assert [m.uid for m in messages] == sorted(uids)
    assert [m.raw for m in messages] == sent
    assert mailbox.capabilities >= {"IDLE", "UIDPLUS", "MOVE"}


async def test_batches_hold_at_most_their_bytes_and_a_bigger_message_comes_alone(
    imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted in messages only, a batch of big mails was held in memory whole (100 of 25 MB
    each), and a process killed by it fetched the same batch again."""
    monkeypatch.setattr(imap_module, "BATCH_BYTES", 100_000)
    sizes = [30_000, 30_000, 30_000, 30_000, 250_000, 10_000, 10_000]
    sent = [make_message(n, body_size=size) for n, size in enumerate(sizes, start=1)]
    uids = imap_account.append(*sent)

    async with ImapMailbox(imap_account.url()) as mailbox:
        batches = await collect(mailbox, None, batch_size=100)

    assert [len(batch) for batch in batches] == [3, 1, 1, 2]
    assert all(sum(len(m.raw) for m in batch) <= 100_000 for batch in batches if len(batch) > 1)
    assert [m.uid for m in flat(batches)] == sorted(uids)
    assert [m.raw for m in flat(batches)] == sent


async def test_fetch_since_cursor_returns_only_newer_messages(imap_account: ImapAccount) -> None:
    uids = imap_account.append(*(make_message(n) for n in range(1, 5)))

    async with ImapMailbox(imap_account.url()) as mailbox:
        cursor = MailboxCursor(mailbox.uidvalidity, uids[1])
        newer = flat(await collect(mailbox, cursor))

    assert [m.uid for m in newer] == uids[2:]
    assert [m.raw for m in newer] == [make_message(3), make_message(4)]


async def test_cursor_at_highest_uid_returns_nothing_despite_the_star_quirk(
    imap_account: ImapAccount,
) -> None:
    uids = imap_account.append(make_message(1), make_message(2))
    # The server really does answer `UID n:*` with the highest UID even when it is below n.
    with imap_account.server.client(imap_account.user) as raw_client:
        raw_client.select("INBOX")
        _, data = raw_client.uid("SEARCH", f"UID {uids[-1] + 5}:*")
    assert data[0].split() == [str(uids[-1]).encode()]

    async with ImapMailbox(imap_account.url()) as mailbox:
        for last_uid in (uids[-1], uids[-1] + 5):
            cursor = MailboxCursor(mailbox.uidvalidity, last_uid)
            assert await collect(mailbox, cursor) == []


async def test_fetch_leaves_messages_unseen(imap_account: ImapAccount) -> None:
    uids = imap_account.append(make_message(1), make_message(2))
    imap_account.append(make_message(3), flags="\\Flagged")

    async with ImapMailbox(imap_account.url()) as mailbox:
        messages = flat(await collect(mailbox, None))

    assert len(messages) == 3
    assert "\\Flagged" in messages[2].flags
    flags = imap_account.server.flags(imap_account.user)
    assert all("\\Seen" not in flags[uid] for uid in [*uids, messages[2].uid])


async def test_a_full_batch_of_small_messages_fits_aioimaplib_parser(
    imap_account: ImapAccount,
) -> None:
    sent = [b"Subject: tiny %d\r\n\r\nx\r\n" % n for n in range(MAX_BATCH_SIZE)]
    imap_account.append(*sent)
    async with ImapMailbox(imap_account.url()) as mailbox:
        batches = await collect(mailbox, None, batch_size=MAX_BATCH_SIZE)
        for too_big_or_small in (0, MAX_BATCH_SIZE + 1):
            with pytest.raises(ValueError, match="batch_size"):
                await collect(mailbox, None, batch_size=too_big_or_small)
    assert [[m.raw for m in batch] for batch in batches] == [sent]


async def test_empty_mailbox_yields_no_batches(imap_account: ImapAccount) -> None:
    async with ImapMailbox(imap_account.url()) as mailbox:
        assert await collect(mailbox, None) == []
        assert mailbox.uidvalidity == imap_account.server.uidvalidity(imap_account.user)


async def test_uidvalidity_change_starts_over_and_reports_the_new_value(
    imap_account: ImapAccount,
) -> None:
    server, user = imap_account.server, imap_account.user
    server.create_mailbox(user, "Support")
    imap_account.append(make_message(1), make_message(2), mailbox="Support")
    async with ImapMailbox(imap_account.url("Support")) as mailbox:
        old = mailbox.cursor_after(flat(await collect(mailbox, None)))
    assert old.last_uid == 2

    new_validity = server.recreate_mailbox(user, "Support")
    imap_account.append(make_message(3), mailbox="Support")

    async with ImapMailbox(imap_account.url("Support")) as mailbox:
        again = flat(await collect(mailbox, old))
        assert mailbox.uidvalidity == new_validity != old.uidvalidity
        assert mailbox.cursor_after(again) == MailboxCursor(new_validity, 1)
    assert [(m.uid, m.raw) for m in again] == [(1, make_message(3))]


async def test_unknown_mailbox_is_a_command_failure(imap_account: ImapAccount) -> None:
    with pytest.raises(ImapCommandFailed, match="No-Such-Box"):
        async with ImapMailbox(imap_account.url("No-Such-Box")):
            pass


# --- after import -------------------------------------------------------------------------


async def test_after_import_seen_flags_only_the_given_messages(imap_account: ImapAccount) -> None:
    uids = imap_account.append(*(make_message(n) for n in range(1, 5)))

    async with ImapMailbox(imap_account.url()) as mailbox:
        await mailbox.after_import([uids[0], uids[2]], "seen")
        await mailbox.after_import([], "seen")
        await mailbox.after_import(uids, "none")

    flags = imap_account.server.flags(imap_account.user)
    assert ["\\Seen" in flags[uid] for uid in uids] == [True, False, True, False]


@pytest.mark.parametrize("ignored", [(), ("MOVE",)], ids=["move", "copy-store-expunge"])
@pytest.mark.parametrize("folder", ["Imported", "Bearbeitet \u00e4 & Co"])
async def test_after_import_move_creates_the_folder_and_moves(
    imap_account: ImapAccount, ignored: tuple[str, ...], folder: str
) -> None:
    server, user = imap_account.server, imap_account.user
    uids = imap_account.append(*(make_message(n) for n in range(1, 5)))

    async with ImapMailbox(imap_account.url(), ignore_capabilities=ignored) as mailbox:
        await mailbox.after_import(uids[:2], f"move:{folder}")
        await mailbox.after_import(uids[2:3], f"move:{folder}")
        left = flat(await collect(mailbox, None))

    assert [m.uid for m in left] == uids[3:]
    encoded = encode_mailbox_name(folder)
    assert server.status(user, "INBOX", "MESSAGES") == 1
    assert server.status(user, encoded[1:-1], "MESSAGES") == 3
    async with ImapMailbox(imap_account.url(folder)) as moved_box:
        moved = flat(await collect(moved_box, None))
    assert [m.raw for m in moved] == [make_message(n) for n in (1, 2, 3)]


async def test_after_import_rejects_bad_actions(imap_account: ImapAccount) -> None:
    async with ImapMailbox(imap_account.url()) as mailbox:
        with pytest.raises(ValueError, match="move:<Folder>"):
            await mailbox.after_import([1], "archive")
        with pytest.raises(ValueError, match="into itself"):
            await mailbox.after_import([1], "move:inbox")


# --- waiting for new mail -----------------------------------------------------------------


async def test_idle_wakes_up_when_mail_arrives_from_another_connection(
    imap_account: ImapAccount,
) -> None:
    async with ImapMailbox(imap_account.url()) as mailbox:
        assert "IDLE" in mailbox.capabilities
        assert await collect(mailbox, None) == []
        waiting = asyncio.create_task(mailbox.wait_for_changes(timeout=20))
        await asyncio.sleep(0.3)
        started = time.monotonic()
        await asyncio.to_thread(imap_account.append, make_message(1))
        assert await asyncio.wait_for(waiting, 5) is True
        assert time.monotonic() - started < 2
        assert [m.raw for m in flat(await collect(mailbox, None))] == [make_message(1)]


async def test_idle_times_out_quietly_and_the_connection_stays_usable(
    imap_account: ImapAccount,
) -> None:
    async with ImapMailbox(imap_account.url()) as mailbox:
        started = time.monotonic()
        assert await mailbox.wait_for_changes(timeout=0.5) is False
        assert 0.4 < time.monotonic() - started < 2
        imap_account.append(make_message(1))
        assert len(flat(await collect(mailbox, None))) == 1
        assert await mailbox.wait_for_changes(timeout=0.3) is False


async def test_idle_keepalives_are_not_mistaken_for_new_mail(imap_account: ImapAccount) -> None:
    # The test Dovecot sends "* OK Still here" every second while IDLE.
    async with ImapMailbox(imap_account.url()) as mailbox:
        started = time.monotonic()
        assert await mailbox.wait_for_changes(timeout=1.6) is False
        assert time.monotonic() - started >= 1.5


async def test_mail_that_arrived_before_waiting_is_reported_at_once(
    imap_account: ImapAccount,
) -> None:
    imap_account.append(make_message(1))
    async with ImapMailbox(imap_account.url()) as mailbox:
        batches = await collect(mailbox, None)
        imap_account.append(make_message(2))
        started = time.monotonic()
        assert await mailbox.wait_for_changes(timeout=20) is True
        assert time.monotonic() - started < 1
        newer = flat(await collect(mailbox, mailbox.cursor_after(batches[-1])))
    assert [m.raw for m in newer] == [make_message(2)]


async def test_polling_when_idle_is_not_used(imap_account: ImapAccount) -> None:
    async with ImapMailbox(imap_account.url(), use_idle=False, poll_interval=0.1) as mailbox:
        assert await mailbox.wait_for_changes(timeout=0.3) is False
        waiting = asyncio.create_task(mailbox.wait_for_changes(timeout=20))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(imap_account.append, make_message(1))
        assert await asyncio.wait_for(waiting, 3) is True


# --- failures -----------------------------------------------------------------------------


async def test_bad_password_raises_auth_failed(imap_account: ImapAccount) -> None:
    # Dovecot delays every later login from an IP that failed one (its auth penalty), so the
    # failing login comes from another loopback address to keep the other tests fast.
    async with TcpProxy(imap_account.host, imap_account.port, source_host="127.0.0.2") as proxy:
        url = MailboxUrl.parse(imap_account.url(port=proxy.port))
        wrong = MailboxUrl(url.scheme, url.host, url.port, url.user, "not-the-password")
        with pytest.raises(ImapAuthFailed, match=imap_account.name) as raised:
            async with ImapMailbox(wrong):
                pass
    assert "not-the-password" not in str(raised.value)
    assert not isinstance(raised.value, ConnectionError)


async def test_refused_connection_is_connection_lost(imap_account: ImapAccount) -> None:
    proxy = TcpProxy(imap_account.host, imap_account.port)
    await proxy.start()
    port = proxy.port
    await proxy.close()
    with pytest.raises(ImapConnectionLost):
        async with ImapMailbox(imap_account.url(port=port), timeout=3):
            pass


async def test_connection_cut_mid_fetch_raises_connection_lost(imap_account: ImapAccount) -> None:
    sent = [make_message(n, body_size=60_000) for n in range(1, 7)]
    imap_account.append(*sent)

    async with TcpProxy(imap_account.host, imap_account.port) as proxy:
        mailbox = ImapMailbox(imap_account.url(port=proxy.port), timeout=5)
        await mailbox.connect()
        proxy.cut_after(150_000)
        received: list[list[FetchedMessage]] = []
        started = time.monotonic()
        with pytest.raises(ImapConnectionLost, match="lost during UID FETCH"):
            async for batch in mailbox.fetch_since(None, batch_size=2):
                received.append(batch)
        assert time.monotonic() - started < 3
        assert not mailbox.connected
        with pytest.raises(ImapConnectionLost):
            await collect(mailbox, None)
        await mailbox.close()

    messages = flat(received)
    assert 0 < len(messages) < len(sent)
    assert [m.raw for m in messages] == sent[: len(messages)]


async def test_connection_cut_during_idle_raises_connection_lost(
    imap_account: ImapAccount,
) -> None:
    async with (
        TcpProxy(imap_account.host, imap_account.port) as proxy,
        ImapMailbox(imap_account.url(port=proxy.port)) as mailbox,
    ):
        waiting = asyncio.create_task(mailbox.wait_for_changes(timeout=20))
        await asyncio.sleep(0.3)
        proxy.cut_all()
        with pytest.raises(ImapConnectionLost):
            await asyncio.wait_for(waiting, 3)
        assert not mailbox.connected
        await mailbox.connect()
        imap_account.append(make_message(1))
        assert [m.raw for m in flat(await collect(mailbox, None))] == [make_message(1)]


async def test_silent_server_times_out_as_connection_lost(imap_account: ImapAccount) -> None:
    imap_account.append(make_message(1, body_size=20_000))
    async with (
        TcpProxy(imap_account.host, imap_account.port) as proxy,
        ImapMailbox(imap_account.url(port=proxy.port), timeout=0.5) as mailbox,
    ):
        proxy.stall()
        started = time.monotonic()
        with pytest.raises(ImapConnectionLost, match="did not answer"):
            await collect(mailbox, None)
        assert time.monotonic() - started < 3
        proxy.resume()


async def test_reconnecting_after_a_cut_resumes_from_the_cursor(
    imap_account: ImapAccount,
) -> None:
    sent = [make_message(n, body_size=40_000) for n in range(1, 6)]
    imap_account.append(*sent)
    cursor: MailboxCursor | None = None
    imported: list[bytes] = []
    async with TcpProxy(imap_account.host, imap_account.port) as proxy:
        for attempt in range(5):
            try:
                async with ImapMailbox(imap_account.url(port=proxy.port), timeout=5) as mailbox:
                    proxy.cut_after(90_000 if attempt == 0 else 10_000_000)
                    async for batch in mailbox.fetch_since(cursor, batch_size=1):
                        imported.extend(m.raw for m in batch)
                        cursor = mailbox.cursor_after(batch)
                break
            except ImapConnectionLost:
                continue
    assert imported == sent
