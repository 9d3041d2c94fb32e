"""Password reset by emailed link: mailed through the workspace's email channel by the outbox
(to a real SMTP server), single-use, expiring, ending the user's sessions; and the same answer
for an account whose workspace cannot mail as for an unknown email."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from hub.context import Hub
from hub.models import PasswordResetLink
from hub.password_reset import REQUESTS_PER_ADDRESS
from hub.provisioning import create_channel, draft_account
from tests.channels.email import smtp_server as smtp_testing
from tests.conftest import bearer
from tests.hub.signing_in import sign_in, sign_in_request, user_with_password
from tests.workspace import SeededWorkspace, seed_workspace
from timeline.models import AuditEntry, OutboundMessage

smtp_server = smtp_testing.smtp_server
NEW_PASSWORD = "a brand new password"


async def _mailbox(hub: Hub, ws: SeededWorkspace, smtp: smtp_testing.SmtpServer) -> None:
    draft = draft_account(
        "email",
        address="support@acme.test",
        credentials={"imap_url": "imap://nobody:x@127.0.0.1:9", "smtp_url": smtp.url()},
    )
    async with hub.engine.begin() as conn:
        await create_channel(conn, hub.secrets, ws.id, draft, name="Support")


async def _mailed_token(smtp: smtp_testing.SmtpServer, count: int = 1) -> str:
    mail = (await smtp.wait_for(count))[count - 1].parsed()
    assert mail["To"] == "ann@acme.test"
    assert mail["Subject"] == "Reset your Switchboard password"
    found = re.search(r"/reset-password#token=([A-Za-z0-9_-]+)", mail.get_content())
    assert found is not None
    return found.group(1)


async def test_a_mailed_link_sets_the_password_once_and_ends_every_session(
    hub: Hub, client: TestClient, smtp_server: smtp_testing.SmtpServer
) -> None:
    ws = await seed_workspace(hub)
    await _mailbox(hub, ws, smtp_server)
    await user_with_password(hub, ws.id, "ann@acme.test")
    browser = await sign_in(client, "ann@acme.test")
    asked = await client.post("/api/v1/password-reset", json={"email": "Ann@acme.test"})
    assert (asked.status, await asked.json()) == (202, {"sent": True})
    token = await _mailed_token(smtp_server)

    body = {"token": token, "new_password": NEW_PASSWORD}
    done = await client.post("/api/v1/password-reset/complete", json=body)
    assert (await done.json()) == {"ended": [browser.session_id]}
    assert (await client.get("/api/v1/session", headers=browser.headers())).status == 401
    await sign_in(client, "ann@acme.test", NEW_PASSWORD)
    again = await client.post(
        "/api/v1/password-reset/complete", json={**body, "new_password": "yet another one!"}
    )
    assert again.status == 422
    await sign_in(client, "ann@acme.test", NEW_PASSWORD)
    # The mail is a notice of the user's, not a message of a conversation: no API shows it.
    async with hub.engine.connect() as conn:
        notice, text = (await conn.execute(select(OutboundMessage.id, OutboundMessage.body))).one()
        assert token not in text, "a sent link's text is not kept"
        actions = (await conn.execute(select(AuditEntry.action).order_by(AuditEntry.id))).scalars()
        assert {"user.password_reset_sent", "user.password_changed"} <= set(actions)
    assert (await client.get(f"/api/v1/messages/{notice}", headers=bearer(ws.token))).status == 404


async def test_an_expired_link_is_refused(
    hub: Hub, client: TestClient, smtp_server: smtp_testing.SmtpServer
) -> None:
    ws = await seed_workspace(hub)
    await _mailbox(hub, ws, smtp_server)
    await user_with_password(hub, ws.id, "ann@acme.test")
    await client.post("/api/v1/password-reset", json={"email": "ann@acme.test"})
    token = await _mailed_token(smtp_server)
    async with hub.engine.begin() as conn:
        await conn.execute(
            update(PasswordResetLink).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    body = {"token": token, "new_password": NEW_PASSWORD}
    assert (await client.post("/api/v1/password-reset/complete", json=body)).status == 422
    assert (await sign_in_request(client, "ann@acme.test", NEW_PASSWORD))[0] == 401


async def test_an_account_that_cannot_be_mailed_is_answered_as_an_unknown_email_is(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)  # SMS only
    ann = await user_with_password(hub, ws.id, "ann@acme.test")
    unknown = await client.post("/api/v1/password-reset", json={"email": "nobody@acme.test"})
    known = await client.post("/api/v1/password-reset", json={"email": "ann@acme.test"})
    assert (known.status, await known.json()) == (unknown.status, await unknown.json())
    async with hub.engine.connect() as conn:
        assert not (await conn.execute(select(PasswordResetLink.id))).all()
        entries = await conn.execute(select(AuditEntry.action, AuditEntry.entity_id))
        assert ("user.password_reset_undeliverable", str(ann)) in entries.all()


async def test_a_workspace_without_mail_does_not_keep_the_link_of_another_from_its_user(
    hub: Hub, client: TestClient, smtp_server: smtp_testing.SmtpServer
) -> None:
    sms_only = await seed_workspace(hub, name="Sms")
    await user_with_password(hub, sms_only.id, "ann@acme.test")
    mailing = await seed_workspace(hub, name="Mail")
    await _mailbox(hub, mailing, smtp_server)
    await user_with_password(hub, mailing.id, "ann@acme.test")
    asked = await client.post("/api/v1/password-reset", json={"email": "ann@acme.test"})
    assert asked.status == 202
    await _mailed_token(smtp_server)


async def test_one_address_asks_for_at_most_twenty_links_whatever_the_emails(
    hub: Hub, client: TestClient, smtp_server: smtp_testing.SmtpServer
) -> None:
    ws = await seed_workspace(hub)
    await _mailbox(hub, ws, smtp_server)
    emails = [f"user{n}@acme.test" for n in range(REQUESTS_PER_ADDRESS + 1)]
    for email in emails[:3]:
        await user_with_password(hub, ws.id, email)
    statuses = [
        (await client.post("/api/v1/password-reset", json={"email": email})).status
        for email in emails
    ]
    assert statuses == [202] * REQUESTS_PER_ADDRESS + [429]
    refused = await client.post("/api/v1/password-reset", json={"email": emails[0]})
    assert refused.status == 429
    assert "from this address" in (await refused.json())["error"]["message"]
    await smtp_server.wait_for(3)  # the three who have an account, once each


async def test_links_are_asked_for_at_most_three_times_in_a_while(
    hub: Hub, client: TestClient, smtp_server: smtp_testing.SmtpServer
) -> None:
    ws = await seed_workspace(hub)
    await _mailbox(hub, ws, smtp_server)
    await user_with_password(hub, ws.id, "ann@acme.test")
    body = {"email": "ann@acme.test"}
    statuses = [(await client.post("/api/v1/password-reset", json=body)).status for _ in range(4)]
    assert statuses == [202, 202, 202, 429]
    await smtp_server.wait_for(3)
    other = await client.post("/api/v1/password-reset", json={"email": "bob@acme.test"})
    assert other.status == 202
