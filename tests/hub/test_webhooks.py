"""The webhook route against what a stranger or a careless provider sends: unknown keys,
oversized bodies, forged signatures by the thousand, NULs, data the database refuses, replays."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest
from sqlalchemy import func, select, text

from channels.sms.simulate import inbound_sms_form, signed, status_callback_form
from channels.sms.twilio import TwilioSmsAdapter
from hub.context import Hub
from tests.conftest import ServedHub
from tests.refusing_database import refuse_bodies_containing
from tests.workspace import OUR_NUMBER, SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, seed_workspace
from timeline.models import DeliveryReceipt, QuarantinedPayload, RawPayloadRecord, TimelineEvent

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _hub(served: ServedHub) -> Hub:
    return served.hub  # type: ignore[return-value]


async def _count(hub: Hub, table: object) -> int:
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()  # type: ignore[arg-type]


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    async with http.post(url, data=body, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


def _text_form(body: str, sid: str | None = None) -> list[tuple[str, str]]:
    return inbound_sms_form(
        sender="+14155550123",
        recipient=OUR_NUMBER,
        body=body,
        message_sid=sid,
        account_sid=SMS_ACCOUNT_SID,
    )


async def test_a_channel_is_reached_by_its_unguessable_key_only(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    ws = await seed_workspace(_hub(served_hub))
    key = urlsplit(ws.sms_webhook_url).path.rsplit("/", 1)[-1]
    assert len(key) == 43 and key != str(ws.sms_channel_id)
    by_id = f"{served_hub.base_url}/webhooks/sms/twilio/{ws.sms_channel_id}"
    status, _, _ = await _post(http, by_id, *signed(by_id, SMS_AUTH_TOKEN, _text_form("hi")))
    assert status == 404
    status, _, _ = await _post(
        http, ws.sms_webhook_url, *signed(ws.sms_webhook_url, SMS_AUTH_TOKEN, _text_form("hi"))
    )
    assert status == 200


async def test_a_body_over_the_channels_limit_is_refused_before_it_is_read(
    served_hub: ServedHub,
) -> None:
    ws = await seed_workspace(_hub(served_hub))
    split = urlsplit(ws.sms_webhook_url)
    declared = (
        f"POST {split.path} HTTP/1.1\r\nHost: {split.netloc}\r\nContent-Type: {FORM}\r\n"
        f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
    ).encode()
    chunked = (
        f"POST {split.path} HTTP/1.1\r\nHost: {split.netloc}\r\nContent-Type: {FORM}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode() + b"".join(b"10000\r\n" + b"a" * 0x10000 + b"\r\n" for _ in range(3))
    for request in (declared, chunked):
        reader, writer = await asyncio.open_connection(split.hostname, split.port)
        writer.write(request)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        writer.close()
        assert head.startswith(b"HTTP/1.1 413"), head
        length = int(re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)[1])  # type: ignore[index]
        assert b'"payload_too_large"' in await reader.readexactly(length)
    assert await _count(_hub(served_hub), RawPayloadRecord) == 0


async def test_a_compressed_body_is_refused_not_inflated_even_when_signed(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    """The server used to inflate gzip as it arrived, before the channel's limit was checked
    (a 61 KB bomb under the SMS limit became 60 MB): a body is read as sent, or refused."""
    hub = _hub(served_hub)
    ws = await seed_workspace(hub)
    body, headers = signed(ws.sms_webhook_url, SMS_AUTH_TOKEN, _text_form("hi"))
    compressed = {**headers, "Content-Encoding": "gzip"}
    status, _, answer = await _post(http, ws.sms_webhook_url, gzip.compress(body), compressed)
    assert (status, json.loads(answer)["error"]["code"]) == (415, "unsupported_encoding")
    assert await _count(hub, RawPayloadRecord) == await _count(hub, QuarantinedPayload) == 0
    identity = {**headers, "Content-Encoding": "identity"}
    assert (await _post(http, ws.sms_webhook_url, body, identity))[0] == 200


async def test_forged_webhooks_are_limited_per_address_and_signed_ones_never(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    ws = await seed_workspace(_hub(served_hub))
    url = ws.sms_webhook_url
    statuses = []
    for number in range(25):
        forged = signed(url, "not-the-auth-token", _text_form(f"forged {number}"))
        status, headers, _ = await _post(http, url, *forged)
        statuses.append(status)
    assert statuses == [403] * 20 + [429] * 5
    assert 1 <= int(headers["Retry-After"]) <= 60
    genuine = signed(url, SMS_AUTH_TOKEN, _text_form("the real one"))
    assert (await _post(http, url, *genuine))[0] == 200
    assert await _count(_hub(served_hub), TimelineEvent) == 1


async def test_a_signed_text_holding_nul_is_stored_and_its_raw_bytes_kept(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    hub = _hub(served_hub)
    ws = await seed_workspace(hub)
    form = _text_form("before\x00after")
    body, headers = signed(ws.sms_webhook_url, SMS_AUTH_TOKEN, form)
    assert (await _post(http, ws.sms_webhook_url, body, headers))[0] == 200
    async with hub.engine.connect() as conn:
        stored = (await conn.execute(select(TimelineEvent.body))).scalar_one()
        raw = (await conn.execute(select(RawPayloadRecord.body))).scalar_one()
    assert stored == "before\ufffdafter"
    assert raw == body and b"before%00after" in raw


async def test_a_payload_the_database_refuses_is_quarantined_and_the_next_one_stored(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    hub = _hub(served_hub)
    ws = await seed_workspace(hub)
    await refuse_bodies_containing(hub.engine, "poison")
    url = ws.sms_webhook_url
    body, headers = signed(url, SMS_AUTH_TOKEN, _text_form("this is poison"))
    status, _, answer = await _post(http, url, body, headers)
    assert status == 400
    assert b"the database refused it" in answer and b"quarantine #" in answer
    async with hub.engine.connect() as conn:
        kept = (await conn.execute(select(QuarantinedPayload))).one()
    assert kept.body == body and "poison refused" in kept.error
    assert (await _post(http, url, *signed(url, SMS_AUTH_TOKEN, _text_form("fine"))))[0] == 200
    assert await _count(hub, TimelineEvent) == 1


async def test_a_store_that_fails_otherwise_asks_the_provider_to_retry(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    hub = _hub(served_hub)
    ws = await seed_workspace(hub)
    async with hub.engine.begin() as conn:
        await conn.execute(text("DROP TABLE raw_payloads"))
    url = ws.sms_webhook_url
    status, headers, answer = await _post(
        http, url, *signed(url, SMS_AUTH_TOKEN, _text_form("hello"))
    )
    assert status == 503 and headers["Retry-After"] == "5"
    assert b'"unavailable"' in answer and b"raw_payloads" not in answer
    assert await _count(hub, QuarantinedPayload) == 0


async def test_a_status_callback_replayed_five_times_is_kept_once(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    hub = _hub(served_hub)
    ws = await seed_workspace(hub)
    url = ws.sms_webhook_url
    callback = status_callback_form(
        message_sid="SM" + "d" * 32,
        status="delivered",
        sender=OUR_NUMBER,
        recipient="+14155550123",
        account_sid=SMS_ACCOUNT_SID,
    )
    for _ in range(5):
        assert (await _post(http, url, *signed(url, SMS_AUTH_TOKEN, callback)))[0] == 200
    assert await _count(hub, DeliveryReceipt) == 1


async def test_what_a_request_names_cannot_forge_log_lines(
    served_hub: ServedHub, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await seed_workspace(_hub(served_hub))
    forged_line = b"a%0A2026-12-06 WARNING hub: admin password reset=%FF"
    headers = {"Content-Type": FORM, "X-Twilio-Signature": "x"}
    with caplog.at_level(logging.WARNING, logger="hub.webhooks"):
        status, _, _ = await _post(http, ws.sms_webhook_url, forged_line, headers)
    assert status == 403
    [record] = [r for r in caplog.records if r.name == "hub.webhooks"]
    logged = record.getMessage()
    assert "\n" not in logged and "a\\n2026-12-06 WARNING" in logged


async def test_a_content_type_longer_than_a_stored_one_is_refused(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    ws = await seed_workspace(_hub(served_hub))
    url = ws.sms_webhook_url
    body, headers = signed(url, SMS_AUTH_TOKEN, _text_form("hi"))
    headers["Content-Type"] = FORM + "; " + "x=y; " * 60
    assert (await _post(http, url, body, headers))[0] == 415


async def test_a_parser_that_fails_unexpectedly_gets_its_payload_quarantined(
    served_hub: ServedHub, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = _hub(served_hub)
    ws = await seed_workspace(hub)

    def buggy(self: object, raw: object, decoded: object = None) -> list[object]:
        raise IndexError("a bug in the parser")

    monkeypatch.setattr(TwilioSmsAdapter, "parse", buggy)
    url = ws.sms_webhook_url
    body, headers = signed(url, SMS_AUTH_TOKEN, _text_form("hello"))
    status, _, answer = await _post(http, url, body, headers)
    assert status == 400 and b"the parser failed: IndexError" in answer
    async with hub.engine.connect() as conn:
        kept = (await conn.execute(select(QuarantinedPayload))).one()
    assert kept.body == body
