"""Attachments from real Dovecot into the blob store, and out through the API, per workspace."""

from __future__ import annotations

import hashlib
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from hub.app import create_app
from hub.context import Hub
from hub.pull import pull_once
from tests.channels.email import smtp_server as smtp_testing
from tests.channels.email.dovecot import ImapAccount
from tests.channels.email.smtp_server import SmtpServer
from tests.channels.email.test_email_channel import SUPPORT, add_mailbox
from tests.conftest import HubTestServer
from tests.workspace import SeededWorkspace, seed_workspace
from timeline.models import Blob, EventAttachment, RawPayloadRecord, TimelineEvent

smtp_server = smtp_testing.smtp_server  # the fixture, bound here so pytest finds it
LIMIT = 4096
LABEL = b"%PDF-1.4\n" + bytes(range(256)) * 4  # 1033 bytes: under the limit
BIG = bytes(range(256)) * 64  # 16 KiB: over it


def mail_with(sender: str, subject: str, *files: tuple[str, str, bytes]) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{hashlib.sha256(subject.encode()).hexdigest()[:16]}@customer.test>"
    message.set_content("See the attached file.\n")
    for filename, content_type, data in files:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


async def _event_id(hub: Hub, subject: str) -> int:
    async with hub.engine.connect() as conn:
        query = select(TimelineEvent.id).where(TimelineEvent.subject == subject)
        return (await conn.execute(query)).scalar_one()


async def _count(hub: Hub, model: type) -> int:
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(model))).scalar_one()


async def _mailbox(hub: Hub, ws: SeededWorkspace, account: ImapAccount, smtp: SmtpServer) -> int:
    return await add_mailbox(
        hub, ws, account.url(), smtp.url(), settings={"max_attachment_bytes": LIMIT}
    )


async def test_attachments_are_stored_once_and_downloaded_only_in_their_workspace(
    hub: Hub,
    imap_account: ImapAccount,
    other_imap_account: ImapAccount,
    smtp_server: SmtpServer,
    aiohttp_client: Any,
) -> None:
    ours = await seed_workspace(hub, name="ours")
    theirs = await seed_workspace(hub, name="theirs")
    our_channel = await _mailbox(hub, ours, imap_account, smtp_server)
    their_channel = await _mailbox(hub, theirs, other_imap_account, smtp_server)
    label = ("label.pdf", "application/pdf", LABEL)
    imap_account.append(
        mail_with("ann@customer.test", "Label", label),
        mail_with("bob@customer.test", "Same label", label),
        mail_with("ann@customer.test", "Huge", ("scan.tiff", "image/tiff", BIG), label),
    )
    other_imap_account.append(mail_with("cy@customer.test", "Their label", label))
    await pull_once(hub, await hub.channels.get(our_channel))
    await pull_once(hub, await hub.channels.get(their_channel))

    assert await _count(hub, Blob) == 1  # one file, four messages, two workspaces
    assert await _count(hub, EventAttachment) == 4
    client: TestClient = await aiohttp_client(HubTestServer(create_app(hub)))
    our_auth = {"Authorization": f"Bearer {ours.token}"}
    their_auth = {"Authorization": f"Bearer {theirs.token}"}
    same_label = await _event_id(hub, "Same label")

    response = await client.get(f"/api/v1/events/{same_label}/attachments/0", headers=our_auth)
    assert response.status == 200
    assert await response.read() == LABEL
    assert response.content_type == "application/pdf"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="label.pdf"')
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    response = await client.get(f"/api/v1/events/{same_label}/attachments/0", headers=their_auth)
    assert response.status == 404
    their_label = await _event_id(hub, "Their label")
    response = await client.get(f"/api/v1/events/{their_label}/attachments/0", headers=their_auth)
    assert (response.status, await response.read()) == (200, LABEL)
    response = await client.get(f"/api/v1/events/{their_label}/attachments/0", headers=our_auth)
    assert response.status == 404
    body = await response.json()
    assert body["error"]["code"] == "not_found"
    response = await client.get(f"/api/v1/events/{same_label}/attachments/1", headers=our_auth)
    assert response.status == 404


async def test_an_attachment_over_the_limit_keeps_its_metadata_and_the_raw_mail_keeps_it(
    hub: Hub, imap_account: ImapAccount, smtp_server: SmtpServer, aiohttp_client: Any
) -> None:
    ws = await seed_workspace(hub)
    channel_id = await _mailbox(hub, ws, imap_account, smtp_server)
    label = ("label.pdf", "application/pdf", LABEL)
    imap_account.append(
        mail_with("ann@customer.test", "Huge", ("scan.tiff", "image/tiff", BIG), label)
    )
    await pull_once(hub, await hub.channels.get(channel_id))

    async with hub.engine.connect() as conn:
        event = (
            await conn.execute(
                select(TimelineEvent.id, TimelineEvent.attachments, TimelineEvent.raw_ref)
            )
        ).one()
        raw = (
            await conn.execute(
                select(RawPayloadRecord.body).where(RawPayloadRecord.digest == event.raw_ref)
            )
        ).scalar_one()
    scan, pdf = event.attachments
    assert scan == {
        "filename": "scan.tiff",
        "content_type": "image/tiff",
        "size": len(BIG),
        "digest": hashlib.sha256(BIG).hexdigest(),
        "too_large": True,
    }
    assert pdf["too_large"] is False and "content" not in pdf
    kept = message_from_bytes(raw, policy=policy.default)
    assert [part.get_content() for part in kept.iter_attachments()] == [BIG, LABEL]

    client: TestClient = await aiohttp_client(HubTestServer(create_app(hub)))
    auth = {"Authorization": f"Bearer {ws.token}"}
    response = await client.get(f"/api/v1/events/{event.id}/attachments/0", headers=auth)
    assert response.status == 404
    error = (await response.json())["error"]
    assert error["code"] == "attachment_not_kept" and "size limit" in error["message"]
    response = await client.get(f"/api/v1/events/{event.id}/attachments/1", headers=auth)
    assert (response.status, await response.read()) == (200, LABEL)
    assert await _count(hub, Blob) == 1
