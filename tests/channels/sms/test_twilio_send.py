"""TwilioSmsAdapter.send against a local fake of Twilio's Messages API, and status callbacks."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from channels.base import (
    ChannelConfig,
    OutboundMessage,
    PermanentSendError,
    SendResult,
    TransientSendError,
    WebhookRequest,
)
from channels.sms.twilio import TwilioSmsAdapter
from timeline.events import (
    Attachment,
    DeliveryStatus,
    ExternalIdentity,
    IdentityKind,
    InboundEvent,
    MessageStatusChanged,
)

from .fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio

FIXTURES = Path(__file__).parent / "fixtures"
OUR_NUMBER = "+15017122661"
CUSTOMER = ExternalIdentity(IdentityKind.PHONE, "+15558675310")
MESSAGES_PATH = f"/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}/Messages.json"


def make_adapter(
    base_url: str, auth_token: str = DEFAULT_AUTH_TOKEN, timeout_seconds: float = 5.0
) -> TwilioSmsAdapter:
    config = ChannelConfig(
        id=7,
        workspace_id=1,
        address=OUR_NUMBER,
        credentials={"account_sid": DEFAULT_ACCOUNT_SID, "auth_token": auth_token},
        provider_base_url=base_url,
    )
    return TwilioSmsAdapter(config, timeout_seconds=timeout_seconds)


def outbound(body: str = "Your order has shipped.", **changes: object) -> OutboundMessage:
    values: dict = {
        "message_id": 41,
        "channel_account_id": 7,
        "recipient": CUSTOMER,
        "body": body,
        "idempotency_key": "msg-41",
    }
    return OutboundMessage(**(values | changes))


@pytest.fixture
async def adapter(fake_twilio: FakeTwilio) -> AsyncIterator[TwilioSmsAdapter]:
    sms = make_adapter(fake_twilio.base_url)
    yield sms
    await sms.close()


# -- what goes over the wire -----------------------------------------------------------------


async def test_send_posts_the_message_form_with_basic_auth(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    callback = "https://hub.example.com/webhooks/sms/twilio/7"
    result = await adapter.send(outbound(status_callback_url=callback))

    (request,) = fake_twilio.requests
    assert request.method == "POST"
    assert request.path == MESSAGES_PATH
    assert request.auth == (DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN)
    assert request.content_type.startswith("application/x-www-form-urlencoded")
    assert request.form == (
        ("To", "+15558675310"),
        ("From", OUR_NUMBER),
        ("Body", "Your order has shipped."),
        ("StatusCallback", callback),
    )
    assert re.fullmatch(r"SM[0-9a-f]{32}", result.external_id)
    assert result == SendResult(external_id=result.external_id, status=DeliveryStatus.QUEUED)
    assert fake_twilio.messages[result.external_id]["to"] == "+15558675310"


async def test_each_send_gets_its_own_sid(adapter: TwilioSmsAdapter) -> None:
    first = await adapter.send(outbound())
    second = await adapter.send(outbound())
    assert first.external_id != second.external_id


async def test_persian_and_emoji_body_arrives_intact(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    body = "سلام! سفارش شما ارسال شد 📦 — کد رهگیری: ۱۲۳۴ & 50% off + more"
    await adapter.send(outbound(body))
    assert fake_twilio.requests[0].field("Body") == body


async def test_no_status_callback_field_when_none_is_asked(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    await adapter.send(outbound())
    assert fake_twilio.requests[0].field("StatusCallback") is None


async def test_attachments_become_media_urls(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    photos = tuple(
        Attachment(f"p{n}.jpg", "image/jpeg", url=f"https://cdn.example.com/p{n}.jpg")
        for n in range(2)
    )
    result = await adapter.send(outbound("Photos of your parcel", attachments=photos))
    assert fake_twilio.requests[0].fields("MediaUrl") == [
        "https://cdn.example.com/p0.jpg",
        "https://cdn.example.com/p1.jpg",
    ]
    assert result.external_id.startswith("MM")


async def test_media_without_text_is_sent(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    photo = Attachment("p.jpg", "image/jpeg", url="https://cdn.example.com/p.jpg")
    await adapter.send(outbound("", attachments=(photo,)))
    assert fake_twilio.requests[0].field("Body") is None
    assert fake_twilio.requests[0].fields("MediaUrl") == ["https://cdn.example.com/p.jpg"]


async def test_body_of_exactly_1600_characters_is_sent(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    await adapter.send(outbound("a" * 1600))
    assert fake_twilio.requests[0].field("Body") == "a" * 1600


# -- refused before any call -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (outbound("a" * 1601), "1601 characters"),
        (outbound(""), "neither text nor media"),
        (
            outbound(recipient=ExternalIdentity(IdentityKind.EMAIL, "jane@example.com")),
            "cannot text",
        ),
        (outbound(attachments=(Attachment("x.pdf", "application/pdf"),)), "'x.pdf' has no URL"),
        (
            outbound(
                attachments=tuple(
                    Attachment(f"{n}.jpg", "image/jpeg", url=f"https://c.example/{n}.jpg")
                    for n in range(11)
                )
            ),
            "at most 10",
        ),
    ],
)
async def test_unsendable_messages_fail_without_calling_twilio(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio, message: OutboundMessage, reason: str
) -> None:
    with pytest.raises(PermanentSendError, match=reason):
        await adapter.send(message)
    assert fake_twilio.requests == []


# -- Twilio's answers ------------------------------------------------------------------------


async def test_recorded_201_answer_gives_its_sid_and_status(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    recorded = json.loads((FIXTURES / "messages_create__201.json").read_text())
    fake_twilio.respond_next(201, recorded)
    result = await adapter.send(outbound())
    assert result == SendResult("SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", DeliveryStatus.QUEUED)


async def test_recorded_400_answer_is_permanent_with_twilios_words(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.respond_next(400, (FIXTURES / "messages_create__400_invalid_to.json").read_text())
    with pytest.raises(PermanentSendError) as failure:
        await adapter.send(outbound())
    assert str(failure.value) == "21211: The 'To' number +1555 is not a valid phone number."


async def test_stop_listed_recipient_is_permanent(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    message = "Attempt to send to unsubscribed recipient"
    fake_twilio.fail_next(400, 21610, message)
    with pytest.raises(PermanentSendError, match=f"^21610: {message}$"):
        await adapter.send(outbound())


async def test_wrong_credentials_are_permanent(fake_twilio: FakeTwilio) -> None:
    sms = make_adapter(fake_twilio.base_url, auth_token="not-the-token")
    try:
        with pytest.raises(PermanentSendError, match="20003: Authenticate"):
            await sms.send(outbound())
    finally:
        await sms.close()
    assert fake_twilio.requests[0].auth == (DEFAULT_ACCOUNT_SID, "not-the-token")


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (500, 20500, "Internal Server Error"),
        (503, 20503, "Service Unavailable"),
        (429, 20429, "Too Many Requests"),
    ],
)
async def test_server_errors_and_throttling_are_transient(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio, status: int, code: int, message: str
) -> None:
    fake_twilio.fail_next(status, code, message)
    with pytest.raises(TransientSendError, match=f"HTTP {status}: {code}: {message}"):
        await adapter.send(outbound())
    assert (await adapter.send(outbound())).status is DeliveryStatus.QUEUED


async def test_error_without_twilio_json_keeps_the_http_status(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.respond_next(404, "<html>Not Found</html>")
    with pytest.raises(PermanentSendError, match="^HTTP 404: <html>Not Found</html>$"):
        await adapter.send(outbound())


async def test_unreadable_success_is_not_retried(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.respond_next(201, "not json")
    with pytest.raises(PermanentSendError, match="not retrying"):
        await adapter.send(outbound())


async def test_status_in_the_answer_is_mapped(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.respond_next(201, {"sid": "SM" + "1" * 32, "status": "sent"})
    assert await adapter.send(outbound()) == SendResult("SM" + "1" * 32, DeliveryStatus.SENT)


# -- network failures ------------------------------------------------------------------------


async def test_dropped_connection_is_transient_and_the_adapter_recovers(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    fake_twilio.drop_next(2)
    for _ in range(2):
        with pytest.raises(TransientSendError, match="unreachable"):
            await adapter.send(outbound())
    result = await adapter.send(outbound())
    assert result.status is DeliveryStatus.QUEUED
    assert len(fake_twilio.requests) == 3


async def test_timeout_is_transient(fake_twilio: FakeTwilio) -> None:
    sms = make_adapter(fake_twilio.base_url, timeout_seconds=0.2)
    fake_twilio.stall_next(5)
    try:
        with pytest.raises(TransientSendError, match="Timeout"):
            await sms.send(outbound())
    finally:
        await sms.close()


async def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sms = make_adapter(f"http://127.0.0.1:{port}")
    try:
        with pytest.raises(TransientSendError, match="unreachable"):
            await sms.send(outbound())
    finally:
        await sms.close()


async def test_one_session_is_reused_and_close_releases_it(
    adapter: TwilioSmsAdapter, fake_twilio: FakeTwilio
) -> None:
    await adapter.send(outbound())
    session = adapter._session
    await adapter.send(outbound())
    assert adapter._session is session
    await adapter.close()
    assert session is not None and session.closed
    await adapter.send(outbound())  # a closed adapter opens a new session when used again
    assert len(fake_twilio.requests) == 3


# -- the round trip: send, then Twilio's signed status callbacks -----------------------------


async def test_status_callbacks_for_a_sent_message_verify_and_parse(
    fake_twilio: FakeTwilio,
) -> None:
    events: list[InboundEvent] = []
    receiver = make_adapter(fake_twilio.base_url)

    async def webhook(request: web.Request) -> web.Response:
        hook = WebhookRequest(
            url=str(request.url),
            headers=dict(request.headers),
            body=await request.read(),
            content_type=request.headers.get("Content-Type", ""),
        )
        receiver.verify(hook)
        events.extend(receiver.parse(hook.raw()))
        text, content_type = receiver.webhook_response()
        return web.Response(text=text, content_type=content_type)

    app = web.Application()
    app.router.add_post("/webhooks/sms/twilio/7", webhook)
    hub = TestServer(app, host="127.0.0.1", port=None)
    await hub.start_server()
    try:
        callback_url = str(hub.make_url("/webhooks/sms/twilio/7"))
        result = await receiver.send(outbound(status_callback_url=callback_url))
        async with aiohttp.ClientSession() as session:
            sent = await fake_twilio.report_status(session, result.external_id, "sent")
            failed = await fake_twilio.report_status(
                session, result.external_id, "undelivered", ErrorCode="30005"
            )
    finally:
        await receiver.close()
        await hub.close()

    assert sent[0] == failed[0] == 200
    assert "<Response></Response>" in sent[1]
    assert [(type(e), e.external_id) for e in events] == [
        (MessageStatusChanged, result.external_id)
    ] * 2
    first, second = events
    assert isinstance(first, MessageStatusChanged) and isinstance(second, MessageStatusChanged)
    assert (first.status, second.status) == (DeliveryStatus.SENT, DeliveryStatus.FAILED)
    assert second.error_code == "30005"
    assert second.error_message == "Unknown destination handset"
    assert first.sender == CUSTOMER
