"""The email channel through the hub: real Dovecot in, real SMTP out, threads that hold."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from channels.email.imap_url import MailboxUrl
from channels.email.reader import MailboxReader, ReaderSettings
from channels.email.thread_keys import REPLY_TOKEN
from channels.email.thread_keys import SUBJECT_TOKEN as SUBJECT_TOKEN_KEY
from hub.app import create_app
from hub.context import Hub
from hub.provisioning import create_channel, draft_account
from hub.pull import ChannelPullSink, pull_once
from tests.channels.email import smtp_server as smtp_testing
from tests.channels.email.dovecot import ImapAccount
from tests.channels.email.smtp_server import SmtpServer
from tests.channels.email.tcp_proxy import TcpProxy
from tests.conftest import HubTestServer, OpenApiChecker, bearer
from tests.hub.test_cli import run
from tests.workspace import SeededWorkspace, seed_workspace, sms_request
from timeline.models import (
    Conversation,
    Identity,
    OutboundMessage,
    ThreadKeyRecord,
    TimelineEvent,
)
from timeline.outbox import queue_reply

smtp_server = smtp_testing.smtp_server
SUPPORT = "support@shop.test"
SUBJECT_TOKEN = re.compile(r"\[#SB-([0-9A-Z]{10})\]")


def mail(
    sender: str,
    subject: str,
    body: str,
    *,
    message_id: str | None = "auto",
    in_reply_to: str | None = None,
    references: str | None = None,
    extra: str = "",
) -> bytes:
    headers = [
        f"From: {sender}",
        f"To: {SUPPORT}",
        f"Subject: {subject}",
        "Date: Mon, 23 Nov 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if message_id == "auto":
        message_id = make_msgid(domain="customer.test")
    if message_id:
        headers.append(f"Message-ID: {message_id}")
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    if references:
        headers.append(f"References: {references}")
    if extra:
        headers.append(extra)
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


@pytest.fixture
async def mailbox_channel(
    hub: Hub, imap_account: ImapAccount, smtp_server: SmtpServer
) -> AsyncIterator[tuple[SeededWorkspace, int]]:
    ws = await seed_workspace(hub)
    yield ws, await add_mailbox(hub, ws, imap_account.url(), smtp_server.url())


async def add_mailbox(
    hub: Hub,
    ws: SeededWorkspace,
    imap_url: str,
    smtp_url: str,
    settings: dict[str, Any] | None = None,
) -> int:
    async with hub.engine.begin() as conn:
        draft = draft_account(
            "email",
            address=SUPPORT,
            credentials={"imap_url": imap_url, "smtp_url": smtp_url},
            settings=settings,
        )
        channel = await create_channel(conn, hub.secrets, ws.id, draft, name="Support")
    return channel.id


async def _sync(hub: Hub, channel_id: int) -> tuple[int, int, int]:
    counts = await pull_once(hub, await hub.channels.get(channel_id))
    return counts.imported, counts.duplicates, counts.quarantined


async def _only_conversation(hub: Hub) -> int:
    """The id of the one conversation the test has made so far."""
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(Conversation.id))).scalar_one()


async def _count(hub: Hub, model: type) -> int:
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def test_sync_imports_each_message_once_and_flags_automated_mail(
    hub: Hub, imap_account: ImapAccount, mailbox_channel: tuple[SeededWorkspace, int]
) -> None:
    _, channel_id = mailbox_channel
    same = mail("ann@customer.test", "Order 1042", "Where is it?")
    imap_account.append(
        same,
        same,  # the same message delivered twice
        mail("bob@customer.test", "No id", "sent by a broken mailer", message_id=None),
        mail(
            "ooo@customer.test", "Out of office", "I am away", extra="Auto-Submitted: auto-replied"
        ),
        b"\x00\x01 not a mail at all",
    )
    assert await _sync(hub, channel_id) == (3, 1, 1)
    assert await _sync(hub, channel_id) == (0, 0, 0)
    async with hub.engine.connect() as conn:
        rows = (await conn.execute(select(TimelineEvent.subject, TimelineEvent.meta))).all()
    automated = {row.subject: row.meta["automated"] for row in rows}
    assert automated == {"Order 1042": False, "No id": False, "Out of office": True}


async def test_a_new_uidvalidity_rescans_without_duplicates(
    hub: Hub, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    ws = await seed_workspace(hub)
    imap_account.server.create_mailbox(imap_account.user, "Support")
    messages = [mail(f"c{n}@customer.test", f"Question {n}", "hello") for n in range(5)]
    imap_account.append(*messages, mailbox="Support")
    channel_id = await add_mailbox(hub, ws, imap_account.url(mailbox="Support"), smtp_server.url())
    assert await _sync(hub, channel_id) == (5, 0, 0)
    imap_account.server.recreate_mailbox(imap_account.user, "Support")
    imap_account.append(*messages, mail("new@customer.test", "New", "hi"), mailbox="Support")
    assert await _sync(hub, channel_id) == (1, 5, 0)
    assert await _count(hub, TimelineEvent) == 6


async def _reply(hub: Hub, ws: SeededWorkspace, conversation_id: int, body: str) -> int:
    async with hub.engine.begin() as conn:
        queued = await queue_reply(
            conn,
            workspace_id=ws.id,
            conversation_id=conversation_id,
            author_user_id=ws.admin_id,
            body=body,
        )
    await hub.jobs.enqueue("send_message", queued.message_id)
    return queued.message_id


async def test_five_mails_back_and_forth_stay_one_conversation(
    hub: Hub,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    mailbox_channel: tuple[SeededWorkspace, int],
) -> None:
    ws, channel_id = mailbox_channel
    await hub.start()
    first_id = make_msgid(domain="customer.test")
    imap_account.append(
        mail("ann@customer.test", "Order 1042", "Where is it?", message_id=first_id)
    )
    await _sync(hub, channel_id)
    conversation_id = await _only_conversation(hub)

    chain = [first_id]
    subjects: set[str] = set()
    for turn in range(2):
        await _reply(hub, ws, conversation_id, f"Our answer {turn}")
        [sent] = (await smtp_server.wait_for(turn + 1))[turn:]
        ours = message_from_bytes(sent.data, policy=policy.default)
        assert ours["In-Reply-To"] == chain[-1]
        assert ours["References"].split() == chain
        subjects.add(ours["Subject"])
        chain.append(ours["Message-ID"])
        customer_id = make_msgid(domain="customer.test")
        imap_account.append(
            mail(
                "ann@customer.test",
                "Re: Order 1042",
                f"Reply {turn}",
                message_id=customer_id,
                in_reply_to=chain[-1],
                references=" ".join(chain),
            )
        )
        chain.append(customer_id)
        await _sync(hub, channel_id)

    assert await _count(hub, Conversation) == 1
    (subject,) = subjects  # one subject token for the whole conversation
    assert SUBJECT_TOKEN.fullmatch(subject.removeprefix("Re: Order 1042 ")), subject
    async with hub.engine.connect() as conn:
        kinds = (
            await conn.execute(select(TimelineEvent.kind).order_by(TimelineEvent.id))
        ).scalars()
        assert list(kinds) == [
            "message_received",
            "message_sent",
            "message_received",
            "message_sent",
            "message_received",
        ]


async def test_a_new_subject_without_references_opens_a_new_conversation(
    hub: Hub, imap_account: ImapAccount, mailbox_channel: tuple[SeededWorkspace, int]
) -> None:
    _, channel_id = mailbox_channel
    imap_account.append(mail("ann@customer.test", "Order 1042", "Where is it?"))
    await _sync(hub, channel_id)
    imap_account.append(mail("ann@customer.test", "Invoice address", "Please change it"))
    await _sync(hub, channel_id)
    assert await _count(hub, Conversation) == 2


async def test_a_reply_to_the_reply_address_joins_its_conversation(
    hub: Hub,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    mailbox_channel: tuple[SeededWorkspace, int],
) -> None:
    ws, channel_id = mailbox_channel
    await hub.start()
    imap_account.append(mail("ann@customer.test", "Order 1042", "Where is it?"))
    await _sync(hub, channel_id)
    conversation_id = await _conversation_of(hub, "Order 1042")
    assert conversation_id is not None
    token = await _reply_token(hub, ws, smtp_server, conversation_id)
    assert token == await _token_of(hub, conversation_id, REPLY_TOKEN)
    lost_headers = mail("ann@customer.test", "Something else", "my client dropped the headers")
    imap_account.append(
        lost_headers.replace(f"To: {SUPPORT}".encode(), f"To: reply+{token}@shop.test".encode())
    )
    await _sync(hub, channel_id)
    assert await _count(hub, Conversation) == 1


async def _reply_token(
    hub: Hub, ws: SeededWorkspace, smtp: SmtpServer, conversation_id: int
) -> str:
    """Reply in the conversation; the token of the Reply-To address the mail went out with."""
    sent = await _sent(hub, ws, smtp, conversation_id, "Looking into it")
    address = sent["Reply-To"].addresses[0].addr_spec
    found = re.fullmatch(r"reply\+(\w+)@shop\.test", address)
    assert found is not None, address
    return found.group(1)


async def _recorded_as_sent(hub: Hub, message_id: int) -> None:
    """Wait until the send job has recorded the message sent (with the keys it carried)."""
    for _ in range(100):
        async with hub.engine.connect() as conn:
            status = (
                await conn.execute(
                    select(OutboundMessage.status).where(OutboundMessage.id == message_id)
                )
            ).scalar_one()
        if status == "sent":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"message {message_id} is still {status}")


async def _token_of(hub: Hub, conversation_id: int, kind: str) -> str:
    """The conversation's token of this kind, as the hub keeps it among its thread keys."""
    async with hub.engine.connect() as conn:
        return (
            await conn.execute(
                select(ThreadKeyRecord.key)
                .where(ThreadKeyRecord.conversation_id == conversation_id)
                .where(ThreadKeyRecord.kind == kind)
            )
        ).scalar_one()


async def _conversation_of(hub: Hub, subject: str) -> int | None:
    async with hub.engine.connect() as conn:
        return (
            await conn.execute(
                select(TimelineEvent.conversation_id).where(TimelineEvent.subject == subject)
            )
        ).scalar_one()


async def _sent_subject(
    hub: Hub, ws: SeededWorkspace, smtp: SmtpServer, conversation_id: int, body: str
) -> str:
    """Reply in the conversation and return the Subject of the mail the SMTP server got."""
    return str((await _sent(hub, ws, smtp, conversation_id, body))["Subject"])


async def _sent(
    hub: Hub, ws: SeededWorkspace, smtp: SmtpServer, conversation_id: int, body: str
) -> EmailMessage:
    """Reply in the conversation: the mail the SMTP server got, once the hub recorded it sent
    (with the keys it carried)."""
    before = len(smtp.received)
    message_id = await _reply(hub, ws, conversation_id, body)
    sent = (await smtp.wait_for(before + 1))[before]
    await _recorded_as_sent(hub, message_id)
    return sent.parsed()


async def test_a_reply_carrying_only_our_subject_token_joins_its_conversation(
    hub: Hub,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    mailbox_channel: tuple[SeededWorkspace, int],
) -> None:
    ws, channel_id = mailbox_channel
    await hub.start()
    imap_account.append(mail("ann@customer.test", "Where is my order?", "It has been a week"))
    await _sync(hub, channel_id)
    conversation_id = await _conversation_of(hub, "Where is my order?")
    assert conversation_id is not None

    subject = await _sent_subject(hub, ws, smtp_server, conversation_id, "It ships today")
    found = SUBJECT_TOKEN.fullmatch(subject.removeprefix("Re: Where is my order? "))
    assert found is not None, subject
    stored = await _token_of(hub, conversation_id, SUBJECT_TOKEN_KEY)
    assert found.group(1) == stored

    # No In-Reply-To, no References, sent to the plain address: only the subject token is left.
    imap_account.append(
        mail("ann@customer.test", f"AW: Where is my order? [#SB-{stored}]", "Still nothing"),
        mail("ann@customer.test", "Re: Where is my order? [#SB-0000000000]", "forged token"),
    )
    await _sync(hub, channel_id)
    assert await _conversation_of(hub, f"AW: Where is my order? [#SB-{stored}]") == conversation_id
    forged = await _conversation_of(hub, "Re: Where is my order? [#SB-0000000000]")
    assert forged not in (None, conversation_id)

    second = await _sent_subject(hub, ws, smtp_server, conversation_id, "It left this morning")
    assert second == f"Re: Where is my order? [#SB-{stored}]"


async def test_references_and_the_reply_address_come_before_the_subject_token(
    hub: Hub,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    mailbox_channel: tuple[SeededWorkspace, int],
) -> None:
    ws, channel_id = mailbox_channel
    await hub.start()
    first_id = make_msgid(domain="customer.test")
    imap_account.append(
        mail("ann@customer.test", "Order 1042", "Where is it?", message_id=first_id),
        mail("ann@customer.test", "Invoice", "Wrong address"),
    )
    await _sync(hub, channel_id)
    by_reference = await _conversation_of(hub, "Order 1042")
    tokened = await _conversation_of(hub, "Invoice")
    assert by_reference is not None and tokened is not None
    invoice_subject = await _sent_subject(hub, ws, smtp_server, tokened, "We will fix it")
    reply_token = await _reply_token(hub, ws, smtp_server, by_reference)
    imap_account.append(
        mail("ann@customer.test", invoice_subject, "one", in_reply_to=first_id),
        mail("ann@customer.test", invoice_subject + " ", "two").replace(
            f"To: {SUPPORT}".encode(), f"To: reply+{reply_token}@shop.test".encode()
        ),
    )
    await _sync(hub, channel_id)
    async with hub.engine.connect() as conn:
        placed = (
            await conn.execute(
                select(TimelineEvent.body, TimelineEvent.conversation_id).where(
                    TimelineEvent.subject.like("%[#SB-%")
                )
            )
        ).all()
    assert {row.body: row.conversation_id for row in placed} == {
        "one": by_reference,
        "two": by_reference,
    }


async def test_a_subject_token_copied_into_another_workspace_finds_nothing_there(
    hub: Hub,
    imap_account: ImapAccount,
    other_imap_account: ImapAccount,
    smtp_server: SmtpServer,
    mailbox_channel: tuple[SeededWorkspace, int],
) -> None:
    ws, channel_id = mailbox_channel
    await hub.start()
    other = await seed_workspace(hub, name="other")
    other_channel_id = await add_mailbox(hub, other, other_imap_account.url(), smtp_server.url())
    imap_account.append(mail("ann@customer.test", "Order 1042", "Where is it?"))
    await _sync(hub, channel_id)
    conversation_id = await _conversation_of(hub, "Order 1042")
    assert conversation_id is not None
    token_subject = await _sent_subject(hub, ws, smtp_server, conversation_id, "On its way")
    assert SUBJECT_TOKEN.search(token_subject)

    other_imap_account.append(mail("ann@customer.test", token_subject, "to the other shop"))
    await _sync(hub, other_channel_id)
    async with hub.engine.connect() as conn:
        landed = (
            await conn.execute(
                select(Conversation.id, Conversation.workspace_id)
                .join(TimelineEvent, TimelineEvent.conversation_id == Conversation.id)
                .where(TimelineEvent.subject == token_subject)
            )
        ).one()
    assert landed.id != conversation_id and landed.workspace_id == other.id
    assert await _count(hub, Conversation) == 2


async def test_replies_queue_while_smtp_is_down_and_go_out_once_when_it_is_back(
    hub: Hub,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    mailbox_channel: tuple[SeededWorkspace, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hub.sending.FIRST_RETRY", timedelta(milliseconds=100))
    monkeypatch.setattr("hub.sending.LONGEST_RETRY", timedelta(milliseconds=400))
    ws, channel_id = mailbox_channel
    await hub.start()
    imap_account.append(mail("ann@customer.test", "Order 1042", "Where is it?"))
    await _sync(hub, channel_id)
    conversation_id = await _only_conversation(hub)
    smtp_server.stop()
    ids = [await _reply(hub, ws, conversation_id, f"answer {n}") for n in range(3)]
    await asyncio.sleep(1.0)
    async with hub.engine.connect() as conn:
        waiting = (
            await conn.execute(select(OutboundMessage.status, OutboundMessage.attempts))
        ).all()
    assert all(row.status == "queued" and row.attempts >= 2 for row in waiting)
    smtp_server.start()
    received = await smtp_server.wait_for(3, timeout=10)
    await asyncio.sleep(1.0)
    assert sorted(m.parsed().get_content().strip() for m in smtp_server.received) == [
        "answer 0",
        "answer 1",
        "answer 2",
    ]
    assert len(received) == 3 == len(smtp_server.received)
    async with hub.engine.connect() as conn:
        statuses = (
            (await conn.execute(select(OutboundMessage.status).where(OutboundMessage.id.in_(ids))))
            .scalars()
            .all()
        )
    assert statuses == ["sent"] * 3


def test_the_command_line_adds_a_mailbox_and_backfills_it(
    tmp_path: Path, imap_account: ImapAccount, smtp_server: SmtpServer
) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert run(url, "migrate").returncode == 0
    workspace = run(url, "workspace", "create", "Shop").stdout.strip()
    imap_account.append(*(mail(f"c{n}@customer.test", f"Question {n}", "hi") for n in range(7)))
    added = run(
        url,
        "channel",
        "add",
        "email",
        "--workspace",
        workspace,
        "--address",
        SUPPORT,
        "--imap-url",
        imap_account.url(),
        "--smtp-url",
        smtp_server.url(),
        "--after-import",
        "seen",
    )
    assert added.returncode == 0, added.stderr
    channel_id = added.stdout.strip()
    synced = run(url, "channel", "sync", channel_id, "--once")
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout.strip() == "imported 7, duplicates 0, quarantined 0"
    assert run(url, "channel", "sync", channel_id, "--once").stdout.strip() == (
        "imported 0, duplicates 0, quarantined 0"
    )
    assert all("\\Seen" in flags for flags in imap_account.server.flags(imap_account.user).values())
    bad = run(
        url,
        "channel",
        "add",
        "email",
        "--workspace",
        workspace,
        "--imap-url",
        "ftp://x",
        "--smtp-url",
        smtp_server.url(),
    )
    assert bad.returncode == 1 and "imap" in bad.stderr.lower()


def varied_mail(n: int) -> bytes:
    """Every 10th without Message-ID, every 25th a bounce, every 30th an auto-reply."""
    if n % 25 == 0:
        return mail(
            "MAILER-DAEMON@mx.customer.test",
            f"Undelivered Mail Returned {n}",
            "delivery failed",
            extra="Auto-Submitted: auto-replied",
        )
    if n % 30 == 0:
        return mail(f"c{n}@customer.test", f"Automatic reply {n}", "away", extra="X-Autoreply: yes")
    message_id = None if n % 10 == 0 else f"<m{n}@customer.test>"
    return mail(
        f"c{n % 300}@customer.test",
        f"Question {n}",
        f"body {n} " + "é" * (n % 7),
        message_id=message_id,
    )


async def test_two_thousand_mails_with_cut_connections_and_killed_readers_arrive_once(
    hub: Hub, imap_account: ImapAccount, mailbox_channel: tuple[SeededWorkspace, int]
) -> None:
    _, channel_id = mailbox_channel
    distinct = [varied_mail(n) for n in range(1, 2001)]
    duplicates = distinct[::40]  # 50 messages delivered twice
    imap_account.append(*distinct, *duplicates)
    channel = await hub.channels.get(channel_id)
    sink = ChannelPullSink(hub, channel)
    async with TcpProxy(imap_account.host, imap_account.port) as proxy:
        url = MailboxUrl.parse(imap_account.url(port=proxy.port))
        settings = ReaderSettings(
            batch_size=50, first_retry_seconds=0.02, longest_retry_seconds=0.1
        )

        def start_reader() -> asyncio.Task[object]:
            return asyncio.create_task(MailboxReader(url, settings).pull(sink, once=False))

        reader = start_reader()
        cuts = kills = 0
        # One fault every 80 imported mails, so all 23 land mid-import however fast it runs.
        thresholds = iter(range(80, 80 * 24, 80))
        next_fault = next(thresholds)
        deadline = asyncio.get_running_loop().time() + 240
        while (imported := await _count(hub, TimelineEvent)) < 2000:
            assert asyncio.get_running_loop().time() < deadline, "import did not finish"
            await asyncio.sleep(0.01)
            if imported < next_fault:
                continue
            if cuts < 20:
                proxy.cut_all()
                cuts += 1
            elif kills < 3:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
                reader = start_reader()
                kills += 1
            next_fault = next(thresholds, 10**9)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    assert (cuts, kills) == (20, 3)
    async with hub.engine.connect() as conn:
        rows = (await conn.execute(select(TimelineEvent.external_id, TimelineEvent.meta))).all()
    assert len(rows) == len({row.external_id for row in rows}) == 2000
    flagged = sum(1 for row in rows if row.meta["automated"])
    assert flagged == len([n for n in range(1, 2001) if n % 25 == 0 or n % 30 == 0])


async def test_html_mail_is_kept_sanitized_with_its_text(
    hub: Hub, imap_account: ImapAccount, mailbox_channel: tuple[SeededWorkspace, int]
) -> None:
    _, channel_id = mailbox_channel
    html = mail("ann@customer.test", "Pretty", "<p>Hello <b>there</b></p><script>steal()</script>")
    imap_account.append(html.replace(b"text/plain", b"text/html"))
    await _sync(hub, channel_id)
    async with hub.engine.connect() as conn:
        event = (await conn.execute(select(TimelineEvent.body, TimelineEvent.meta))).one()
    assert "Hello there" in event.body
    assert "<b>there</b>" in event.meta["html"] and "script" not in event.meta["html"]


async def test_the_timeline_shows_a_replys_new_text_and_its_quoted_history_apart(
    hub: Hub,
    imap_account: ImapAccount,
    mailbox_channel: tuple[SeededWorkspace, int],
    aiohttp_client: Any,
) -> None:
    ws, channel_id = mailbox_channel
    history = (
        "On Mon, 23 Nov 2026 at 09:00, Support <support@shop.test> wrote:\r\n"
        "> Your parcel left today.\r\n> Support"
    )
    imap_account.append(mail("ann@customer.test", "Re: Parcel", f"Thanks!\r\n\r\n{history}"))
    await _sync(hub, channel_id)
    client = await aiohttp_client(HubTestServer(create_app(hub)))
    headers = {"Authorization": f"Bearer {ws.token}"}
    customers = await (await client.get("/api/v1/customers", headers=headers)).json()
    [customer] = customers["items"]
    response = await client.get(f"/api/v1/customers/{customer['id']}/timeline", headers=headers)
    body = await response.json()
    assert response.status == 200, body
    OpenApiChecker(await (await client.get("/api/v1/openapi.json")).json()).check(
        "GET", "/api/v1/customers/{customer_id}/timeline", 200, body
    )
    [event] = body["items"]
    assert event["body"] == "Thanks!"
    assert event["quoted"] == history.replace("\r\n", "\n")
    assert event["quoted_html"] is None
    assert "quoted" not in event["meta"]
    async with hub.engine.connect() as conn:
        meta = (await conn.execute(select(TimelineEvent.meta))).scalar_one()
    assert meta["quoted"] == event["quoted"]  # stored with the event, not recomputed


async def test_a_colleague_forwarding_a_customer_mail_files_it_under_the_customer(
    hub: Hub, imap_account: ImapAccount, mailbox_channel: tuple[SeededWorkspace, int]
) -> None:
    ws, channel_id = mailbox_channel
    colleague = "agent0@acme.test"  # a user of the seeded workspace
    body = (
        "Can you take this one?\r\n\r\n---------- Forwarded message ---------\r\n"
        "From: Ann Customer <Ann@Customer.test>\r\nDate: Mon, 23 Nov 2026\r\n"
        "Subject: Broken zipper\r\n\r\nMy jacket's zipper broke after a day."
    )
    imap_account.append(mail(colleague, "Fwd: Broken zipper", body))
    imap_account.append(mail("stranger@else.test", "Fwd: something", body))
    await _sync(hub, channel_id)
    async with hub.engine.connect() as conn:
        senders = (
            (
                await conn.execute(
                    select(Identity.value)
                    .join(Conversation, Conversation.identity_id == Identity.id)
                    .order_by(Conversation.id)
                )
            )
            .scalars()
            .all()
        )
    assert senders == ["ann@customer.test", "stranger@else.test"]


async def test_a_reply_with_html_and_files_goes_out_as_mime_parts_and_stays_downloadable(
    hub: Hub,
    imap_account: ImapAccount,
    smtp_server: SmtpServer,
    mailbox_channel: tuple[SeededWorkspace, int],
    client: TestClient,
    openapi: OpenApiChecker,
) -> None:
    ws, channel_id = mailbox_channel
    await hub.start()
    imap_account.append(mail("ann@customer.test", "Invoice", "Could you send my invoice?"))
    await _sync(hub, channel_id)
    conversation_id = await _only_conversation(hub)
    invoice = b"%PDF-1.4\n" + bytes(range(256)) * 40
    path = f"/api/v1/conversations/{conversation_id}/replies"
    files = [
        {
            "filename": "invoice-1042.pdf",
            "content_type": "application/pdf",
            "content_base64": base64.b64encode(invoice).decode(),
        },
        {"filename": "notes.txt", "content_base64": base64.b64encode(b"thanks").decode()},
    ]
    html = '<p>Here it <b>is</b>.</p><script>alert("x")</script>'
    response = await client.post(
        path,
        json={"body": "Here it is.", "html": html, "attachments": files},
        headers=bearer(ws.token),
    )
    queued = await response.json()
    assert response.status == 202, queued
    openapi.check("POST", "/api/v1/conversations/{conversation_id}/replies", 202, queued)

    [sent] = await smtp_server.wait_for(1)
    email = message_from_bytes(sent.data, policy=policy.default)
    parts = {part.get_filename(): part for part in email.iter_attachments()}
    assert parts["invoice-1042.pdf"].get_content() == invoice
    assert parts["invoice-1042.pdf"].get_content_type() == "application/pdf"
    assert parts["notes.txt"].get_content() == b"thanks"
    assert email.get_body(("plain",)).get_content().strip() == "Here it is."
    sent_html = email.get_body(("html",)).get_content()
    assert "<p>Here it <b>is</b>.</p>" in sent_html and "script" not in sent_html

    download = await client.get(
        f"/api/v1/events/{queued['event_id']}/attachments/0", headers=bearer(ws.token)
    )
    assert download.status == 200 and await download.read() == invoice


async def test_html_or_files_a_channel_cannot_carry_or_decode_are_refused(
    hub: Hub, mailbox_channel: tuple[SeededWorkspace, int], client: TestClient
) -> None:
    ws, _ = mailbox_channel
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    sms_conversation = await _only_conversation(hub)
    path = f"/api/v1/conversations/{sms_conversation}/replies"
    one_file = [{"filename": "a.txt", "content_base64": "aGk="}]
    response = await client.post(
        path, json={"body": "hi", "attachments": one_file}, headers=bearer(ws.token)
    )
    assert response.status == 422
    assert (await response.json())["error"]["fields"] == {
        "attachments": "this channel cannot send files"
    }
    response = await client.post(
        path, json={"body": "hi", "html": "<p>hi</p>"}, headers=bearer(ws.token)
    )
    assert response.status == 422
    assert set((await response.json())["error"]["fields"]) == {"html"}
    for bad, field in [
        ({"filename": "a.txt", "content_base64": "not base64!"}, "attachments.0.content_base64"),
        ({"filename": "../etc/passwd", "content_base64": "aGk="}, "attachments.0.filename"),
    ]:
        response = await client.post(
            path, json={"body": "hi", "attachments": [bad]}, headers=bearer(ws.token)
        )
        assert response.status == 422, bad
        assert set((await response.json())["error"]["fields"]) == {field}
    assert await _count(hub, OutboundMessage) == 0
