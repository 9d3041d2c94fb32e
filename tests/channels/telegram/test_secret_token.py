"""The webhook's secret token: what setWebhook accepts, and the constant-time check of the
header Telegram sends with every update, tried with the fake Bot API delivering webhooks."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import channels.telegram.secret_token as secret_token
from channels.base import SignatureInvalid
from channels.telegram.secret_token import (
    HEADER,
    check_secret_token,
    is_valid_secret_token,
)
from channels.telegram.update import parse_update

from .conftest import bot_for
from .fake_bot_api import FakeBotApi

FIXTURES = Path(__file__).with_name("fixtures")


def new_secret_token() -> str:
    """A fresh secret for a webhook receiver: 256 random bits in setWebhook's alphabet."""
    return secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    ("token", "valid"),
    [("a", True), ("A-z_0-9", True), ("x" * 256, True), ("", False), ("x" * 257, False)]
    + [(f"bad{char}", False) for char in " !:/+=.\u0645"],
)
def test_set_webhooks_alphabet(token: str, valid: bool) -> None:
    assert is_valid_secret_token(token) is valid


def test_the_right_token_passes_under_any_spelling_of_the_header() -> None:
    for name in (HEADER, HEADER.lower(), HEADER.upper()):
        check_secret_token({name: "s3cret"}, "s3cret")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {HEADER: ""},
        {HEADER: "s3cre"},
        {HEADER: "s3crett"},
        {HEADER: "S3CRET"},
        {HEADER: "s3cr\u00e9t"},
    ],
)
def test_a_missing_or_wrong_token_is_refused(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid):
        check_secret_token(headers, "s3cret")


def test_refusals_say_why() -> None:
    with pytest.raises(SignatureInvalid, match=f"missing {HEADER}"):
        check_secret_token({"X-Other": "s3cret"}, "s3cret")
    with pytest.raises(SignatureInvalid, match="does not match"):
        check_secret_token({HEADER: "wrong"}, "s3cret")


@pytest.mark.parametrize("headers", [{}, {HEADER: ""}])
def test_a_channel_without_a_secret_takes_nothing(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureInvalid, match="no secret token"):
        check_secret_token(headers, "")


def test_the_comparison_is_hmacs_constant_time_one(monkeypatch: pytest.MonkeyPatch) -> None:
    compared = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(secret_token.hmac, "compare_digest", compare_digest)
    check_secret_token({HEADER: "s3cret"}, "s3cret")
    assert compared == [(b"s3cret", b"s3cret")]


@dataclass
class Receiver:
    """A webhook endpoint checking the secret token as the channel will: 403, or 200 and kept."""

    url: str = ""
    expected: str = ""
    received: list[bytes] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        try:
            check_secret_token(request.headers, self.expected)
        except SignatureInvalid:
            return web.Response(status=403)
        self.received.append(await request.read())
        return web.Response(status=200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    app = web.Application()
    app.router.add_post("/webhooks/telegram/bot/k3y", endpoint.handle)
    server = TestServer(app, host="127.0.0.1", port=None)
    await server.start_server()
    endpoint.url = str(server.make_url("/webhooks/telegram/bot/k3y"))
    try:
        yield endpoint
    finally:
        await server.close()


@pytest.fixture
async def webhook_api() -> AsyncIterator[FakeBotApi]:
    """A fake Bot API that takes a local http:// webhook URL."""
    fake = FakeBotApi(allow_any_webhook_url=True)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


async def test_telegrams_webhook_with_its_secret_token_is_taken(
    receiver: Receiver, webhook_api: FakeBotApi
) -> None:
    receiver.expected = new_secret_token()
    async with bot_for(webhook_api) as bot:
        await bot.set_webhook(receiver.url, secret_token=receiver.expected)
    update = webhook_api.push_update(_fixture("message_received__text_persian_entities"))
    assert update is not None
    async with aiohttp.ClientSession() as http:
        assert await webhook_api.deliver_webhook(http) == [200]
    [body] = receiver.received
    assert parse_update(body).message.text.text == update["message"]["text"]
    assert webhook_api.updates == []


async def test_a_webhook_with_another_secret_is_refused_and_telegram_keeps_the_update(
    receiver: Receiver, webhook_api: FakeBotApi
) -> None:
    receiver.expected = new_secret_token()
    async with bot_for(webhook_api) as bot:
        await bot.set_webhook(receiver.url, secret_token=new_secret_token())
        webhook_api.push_update(_fixture("message_received__text"))
        async with aiohttp.ClientSession() as http:
            assert await webhook_api.deliver_webhook(http) == [403]
        info = await bot.get_webhook_info()
    assert receiver.received == []
    assert info.pending_update_count == 1
    assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_bytes())
