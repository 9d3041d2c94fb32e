"""send_email against a real aiosmtpd server: delivery, AUTH, TLS, and every failure's class."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtplib.email import flatten_message

from channels.base import OutboundMessage, PermanentSendError, TransientSendError
from channels.email.compose import compose, message_id_for
from channels.email.smtp import send_email
from channels.email.smtp_url import SmtpUrl
from channels.email.thread_keys import EmailThreadRef
from tests.channels.email import smtp_server as smtp_testing
from tests.channels.email.smtp_server import SmtpServer
from timeline.events import Attachment, ExternalIdentity, IdentityKind

smtp_server = smtp_testing.smtp_server  # the fixtures, bound here so pytest finds them
smtp_server_factory = smtp_testing.smtp_server_factory

Factory = Callable[..., SmtpServer]
SENDER = "support@shop.example"
CUSTOMER = "customer@mail.example"
USER = "agent@shop.example"
PASSWORD = "p@ss w:rd/?#%"  # every character a URL must percent-encode
REJECTED = "550 5.1.1 <customer@mail.example>: Recipient address rejected: User unknown"


def composed(
    key: str = "message:1",
    recipient: str = CUSTOMER,
    files: dict[str, bytes] | None = None,
    **changes: Any,
) -> EmailMessage:
    message = OutboundMessage(
        message_id=1,
        channel_account_id=1,
        recipient=ExternalIdentity(IdentityKind.EMAIL, recipient),
        body="Your replacement ships today.\n",
        idempotency_key=key,
        **changes,
    )
    return compose(
        message,
        thread=EmailThreadRef(
            message_id="<c2@mail.example>",
            references=("<c1@mail.example>",),
            subject="Broken mug",
            reply_token="tok",
        ),
        from_address=SENDER,
        from_name="Shop",
        reply_domain="r.shop.example",
        attachments=files or {},
    )


async def send(
    server: SmtpServer,
    email: EmailMessage | None = None,
    *,
    url: str | None = None,
    recipients: list[str] | None = None,
    timeout: float = 5,
) -> str:
    return await send_email(
        SmtpUrl.parse(url or server.url()),
        SENDER,
        recipients or [CUSTOMER],
        email or composed(),
        timeout=timeout,
        local_hostname="client.test",
    )


# ------------------------------------------------------------------------------ delivery


async def test_message_arrives_byte_for_byte(smtp_server: SmtpServer) -> None:
    email = composed()
    reply = await send(smtp_server, email)
    assert reply == "2.0.0 Ok: queued as TEST1"
    (received,) = smtp_server.received
    assert received.mail_from == SENDER
    assert received.rcpt_tos == (CUSTOMER,)
    assert received.data == flatten_message(email)
    parsed = received.parsed()
    for name in ("Message-ID", "In-Reply-To", "References", "Subject", "From", "To", "Date"):
        assert parsed[name] == email[name], name
    assert parsed["Reply-To"] == "Shop <reply+tok@r.shop.example>"
    assert received.tls is False and received.login is None


async def test_multipart_message_arrives_with_its_parts(smtp_server: SmtpServer) -> None:
    pdf = b"%PDF-1.4\n\xe2\xe3\n"
    email = composed(
        "multi",
        html="<p>Your <b>replacement</b> ships today.</p>",
        attachments=(Attachment("label.pdf", "application/pdf", digest="d"),),
        files={"d": pdf},
    )
    await send(smtp_server, email)
    parsed = smtp_server.received[0].parsed()
    assert parsed["Message-ID"] == message_id_for("multi", "shop.example")
    assert parsed.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "application/pdf",
    ]
    assert list(parsed.iter_attachments())[0].get_content() == pdf


async def test_several_recipients_in_one_transaction(smtp_server: SmtpServer) -> None:
    recipients = [CUSTOMER, "copy@mail.example", "ünïcode@mail.example"]
    await send(smtp_server, recipients=recipients)
    (received,) = smtp_server.received
    assert received.rcpt_tos == tuple(recipients)


# ------------------------------------------------------------------------------ AUTH


async def test_auth_with_percent_encoded_password(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(auth=(USER, PASSWORD))
    await send(server, url=server.url(query="starttls=no"))
    assert server.received[0].login == USER


async def test_a_password_without_starttls_is_never_sent_by_default(
    smtp_server_factory: Factory,
) -> None:
    server = smtp_server_factory(auth=(USER, PASSWORD))  # offers AUTH but no STARTTLS
    with pytest.raises(PermanentSendError, match="does not offer STARTTLS"):
        await send(server)
    assert server.received == []
    assert server.logins_attempted == 0


async def test_a_password_goes_over_starttls_by_default(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(starttls=True, auth=(USER, PASSWORD))
    assert "starttls" not in server.url()
    await send(server)
    (received,) = server.received
    assert (received.tls, received.login) == (True, USER)


async def test_wrong_password_is_permanent_535(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(auth=(USER, PASSWORD))
    with pytest.raises(PermanentSendError) as caught:
        await send(server, url=server.url(user=USER, password="wrong-secret", query="starttls=no"))
    text = str(caught.value)
    assert "AUTH" in text
    assert "535 5.7.8 Authentication credentials invalid" in text
    assert "wrong-secret" not in text
    assert server.received == []


async def test_no_login_where_auth_is_required_is_permanent(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(auth=(USER, PASSWORD))
    with pytest.raises(PermanentSendError, match="530"):
        await send(server, url=f"smtp://{server.host}:{server.port}")


# ------------------------------------------------------------------------------ TLS


async def test_starttls_with_self_signed_cert(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(starttls=True, auth=(USER, PASSWORD))
    await send(server)
    (received,) = server.received
    assert received.tls is True
    assert received.login == USER


async def test_starttls_required_by_the_server(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(starttls=True, require_starttls=True)
    await send(server, url=server.url(query="starttls=require"))
    assert server.received[0].tls is True


async def test_starttls_no_stays_plain(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(starttls=True)
    await send(server, url=server.url(query="starttls=no"))
    assert server.received[0].tls is False


async def test_starttls_required_but_not_offered_is_permanent(smtp_server: SmtpServer) -> None:
    with pytest.raises(PermanentSendError, match="does not offer STARTTLS"):
        await send(smtp_server, url=smtp_server.url(query="starttls=require"))
    assert smtp_server.received == []


async def test_smtps_implicit_tls(smtp_server_factory: Factory) -> None:
    server = smtp_server_factory(implicit_tls=True, auth=(USER, PASSWORD))
    assert server.url().startswith("smtps://")
    await send(server)
    (received,) = server.received
    assert received.tls is True
    assert received.login == USER


@pytest.mark.parametrize("mode", ["starttls", "implicit_tls"])
async def test_untrusted_certificate_is_permanent(smtp_server_factory: Factory, mode: str) -> None:
    server = smtp_server_factory(**{mode: True})
    verified = server.url().replace("tls_verify=no", "tls_verify=yes")
    with pytest.raises(PermanentSendError, match="TLS failed.*certificate"):
        await send(server, url=verified)
    assert server.received == []


# ------------------------------------------------------------------------------ server replies


async def test_550_at_rcpt_is_permanent_with_the_servers_words(smtp_server: SmtpServer) -> None:
    smtp_server.reply_next("RCPT", REJECTED)
    with pytest.raises(PermanentSendError) as caught:
        await send(smtp_server)
    assert REJECTED in str(caught.value)
    assert smtp_server.received == []


async def test_451_at_data_is_transient_then_the_retry_goes_through(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.reply_next("DATA", "451 4.3.0 Temporary lookup failure")
    with pytest.raises(TransientSendError, match="DATA.*451 4.3.0 Temporary lookup failure"):
        await send(smtp_server)
    assert smtp_server.received == []
    await send(smtp_server)
    assert len(smtp_server.received) == 1


@pytest.mark.parametrize(
    ("stage", "reply", "error"),
    [
        ("MAIL", "421 4.7.0 Try again later, closing connection", TransientSendError),
        ("MAIL", "452 4.3.1 Insufficient system storage", TransientSendError),
        ("RCPT", "450 4.2.0 Mailbox busy", TransientSendError),
        ("RCPT", "452 4.5.3 Too many recipients", TransientSendError),
        ("MAIL", "553 5.7.1 Sender address rejected: not owned by user", PermanentSendError),
        ("DATA", "554 5.7.1 Message rejected as spam", PermanentSendError),
        ("DATA", "552 5.3.4 Message too big", PermanentSendError),
    ],
)
async def test_reply_codes_decide_transient_or_permanent(
    smtp_server: SmtpServer,
    stage: str,
    reply: str,
    error: type[Exception],
) -> None:
    smtp_server.reply_next(stage, reply)  # type: ignore[arg-type]
    with pytest.raises(error) as caught:
        await send(smtp_server)
    assert reply in str(caught.value)


async def test_partly_refused_recipients_are_permanent_and_named(smtp_server: SmtpServer) -> None:
    smtp_server.reply_next("RCPT", REJECTED, recipient=CUSTOMER)
    with pytest.raises(PermanentSendError) as caught:
        await send(smtp_server, recipients=[CUSTOMER, "copy@mail.example"])
    assert f"{CUSTOMER}: {REJECTED}" in str(caught.value)
    assert "copy@mail.example" not in str(caught.value)
    (received,) = smtp_server.received
    assert received.rcpt_tos == ("copy@mail.example",)


async def test_every_recipient_deferred_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.reply_next("RCPT", "450 4.2.0 Mailbox busy")
    with pytest.raises(TransientSendError) as caught:
        await send(smtp_server, recipients=[CUSTOMER, "copy@mail.example"])
    assert f"{CUSTOMER}: 450 4.2.0 Mailbox busy" in str(caught.value)
    assert "copy@mail.example: 450 4.2.0 Mailbox busy" in str(caught.value)


async def test_scripted_replies_last_for_the_given_transactions(smtp_server: SmtpServer) -> None:
    smtp_server.reply_next("DATA", "451 4.3.0 later", transactions=2)
    for _ in range(2):
        with pytest.raises(TransientSendError):
            await send(smtp_server)
    await send(smtp_server)
    assert len(smtp_server.received) == 1


# ------------------------------------------------------------------------------ connection failures


async def test_stopped_server_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.stop()
    with pytest.raises(TransientSendError, match="Error connecting"):
        await send(smtp_server)


async def test_dropped_connection_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.drop_next("DATA")
    with pytest.raises(TransientSendError):
        await send(smtp_server)
    assert smtp_server.received == []


async def test_silent_server_times_out_transient(smtp_server: SmtpServer) -> None:
    smtp_server.reply_next("RCPT", "250 OK", delay=3)
    with pytest.raises(TransientSendError, match="[Tt]imed out"):
        await send(smtp_server, timeout=0.3)


async def test_restart_on_the_same_port_accepts_the_retry(smtp_server: SmtpServer) -> None:
    port = smtp_server.port
    first = composed("message:42")
    smtp_server.stop()
    with pytest.raises(TransientSendError):
        await send(smtp_server, first)
    smtp_server.reply_next("DATA", "451 4.3.0 still warming up")  # queued while down
    smtp_server.start()
    assert smtp_server.port == port
    with pytest.raises(TransientSendError, match="451"):
        await send(smtp_server, composed("message:42"))
    await send(smtp_server, composed("message:42"))  # the job composes again on retry
    (received,) = smtp_server.received
    assert received.parsed()["Message-ID"] == first["Message-ID"]
    assert first["Message-ID"] == message_id_for("message:42", "shop.example")


async def test_a_background_retry_loop_delivers_once_the_server_is_back(
    smtp_server: SmtpServer,
) -> None:
    smtp_server.stop()
    attempts: list[str] = []

    async def retry_until_sent() -> None:
        while True:
            try:
                await send(smtp_server, composed("message:7"), timeout=1)
                return
            except TransientSendError as error:
                attempts.append(str(error))
                await asyncio.sleep(0.05)

    sending = asyncio.ensure_future(retry_until_sent())
    await asyncio.sleep(0.3)
    await asyncio.to_thread(smtp_server.start)
    (received,) = await smtp_server.wait_for(1)
    await sending
    assert attempts  # it failed while the server was down
    assert received.parsed()["Message-ID"] == message_id_for("message:7", "shop.example")


async def test_server_going_down_mid_session_is_transient(smtp_server: SmtpServer) -> None:
    smtp_server.reply_next("DATA", "250 OK", delay=2)
    sending = asyncio.ensure_future(send(smtp_server, timeout=5))
    await asyncio.sleep(0.3)
    await asyncio.to_thread(smtp_server.stop)
    with pytest.raises(TransientSendError):
        await sending
    assert smtp_server.received == []


# ------------------------------------------------------------------------------ bad input


async def test_no_recipients_is_permanent(smtp_server: SmtpServer) -> None:
    with pytest.raises(PermanentSendError, match="no recipients"):
        await send_email(SmtpUrl.parse(smtp_server.url()), SENDER, [], composed())


@pytest.mark.parametrize(
    "recipient",
    [
        "a@x.example>\r\nRCPT TO:<b@x.example",  # command injection
        "a@x.example, b@x.example",  # aiosmtplib would keep only a@x.example
        "Bob <b@x.example>",  # aiosmtplib would strip the name silently
        "no-at-sign",
        "",
    ],
)
async def test_recipients_that_are_not_bare_addresses_are_permanent(
    smtp_server: SmtpServer,
    recipient: str,
) -> None:
    with pytest.raises(PermanentSendError, match="not bare email addresses"):
        await send(smtp_server, recipients=[CUSTOMER, recipient])
    assert smtp_server.received == []
    assert smtp_server.handler.transactions == 0


async def test_null_envelope_sender_is_allowed(smtp_server: SmtpServer) -> None:
    await send_email(SmtpUrl.parse(smtp_server.url()), "", [CUSTOMER], composed(), timeout=5)
    assert smtp_server.received[0].mail_from == "<>"
