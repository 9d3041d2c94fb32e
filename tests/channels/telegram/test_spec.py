"""The channel's spec: the account's check against getMe, its settings, its demo account."""

from __future__ import annotations

from dataclasses import replace

import pytest

from channels.base import ChannelConfig, CheckFailed, Transport, WebhookRequest
from channels.telegram.adapter import TelegramBotAdapter
from channels.telegram.spec import SPEC, bot_address, check_bot, demo_bot, register_webhook
from channels.telegram.webhook_secret import webhook_secret
from hub.provisioning import draft_account

from .fake_bot_api import DEFAULT_TOKEN, FakeBotApi


def config(fake: FakeBotApi, token: str = DEFAULT_TOKEN, **settings: object) -> ChannelConfig:
    root = fake.base_url.removesuffix("/bot")
    return ChannelConfig(
        id=1,
        workspace_id=1,
        address="@switchboard_demo_bot",
        credentials={"bot_token": token},
        settings=settings,
        provider_base_url=root,
    )


async def test_a_working_token_passes(fake_bot_api: FakeBotApi) -> None:
    await check_bot(config(fake_bot_api))
    assert len(fake_bot_api.calls_of("getMe")) == 1


async def test_a_wrong_token_is_named(fake_bot_api: FakeBotApi) -> None:
    wrong = DEFAULT_TOKEN[:-4] + "abcd"
    with pytest.raises(CheckFailed, match="rejected the bot token") as failed:
        await check_bot(config(fake_bot_api, wrong))
    assert wrong.split(":")[1] not in str(failed.value)


async def test_polling_is_refused_while_a_webhook_is_set_elsewhere(
    fake_bot_api: FakeBotApi,
) -> None:
    fake_bot_api.webhook.url = "https://elsewhere.example/hook"
    await check_bot(config(fake_bot_api, transport="webhook"))
    with pytest.raises(CheckFailed, match=r"webhook set \(https://elsewhere.example/hook\)"):
        await check_bot(config(fake_bot_api, transport="polling"))


def test_settings_default_to_a_webhook_without_groups() -> None:
    draft = draft_account("telegram", address=None, credentials={"bot_token": DEFAULT_TOKEN})
    provider = SPEC.provider()
    assert provider.transport(draft.settings) is Transport.WEBHOOK
    assert draft.address == "bot" + DEFAULT_TOKEN.split(":")[0]
    assert bot_address("acme_bot", draft.credentials) == "@acme_bot"
    with pytest.raises(ValueError, match="bot_token"):
        draft_account("telegram", address=None, credentials={"bot_token": "not-a-token"})
    with pytest.raises(ValueError, match="webhook_secret"):
        draft_account(
            "telegram",
            address=None,
            credentials={"bot_token": DEFAULT_TOKEN, "webhook_secret": "no spaces"},
        )


def test_the_derived_secret_is_stable_valid_and_the_tokens_own() -> None:
    secret = webhook_secret({"bot_token": DEFAULT_TOKEN})
    assert secret == webhook_secret({"bot_token": DEFAULT_TOKEN})
    assert secret != webhook_secret({"bot_token": DEFAULT_TOKEN[:-1] + "X"})
    assert len(secret) == 43
    assert webhook_secret({"bot_token": DEFAULT_TOKEN, "webhook_secret": "mine"}) == "mine"


def test_the_demo_accounts_webhooks_verify_with_the_headers_its_spec_signs() -> None:
    account = demo_bot(None)
    provider = SPEC.provider()
    assert account.webhook_secret == webhook_secret(account.credentials)
    draft = draft_account("telegram", address=account.address, credentials=account.credentials)
    adapter = TelegramBotAdapter(draft.config())
    assert provider.signed_headers is not None
    headers = provider.signed_headers(
        account.credentials, "https://hub/x", b"{}", "application/json"
    )
    adapter.verify(WebhookRequest("https://hub/x", headers, b"{}", "application/json"))


async def test_the_webhook_is_set_with_the_secret_and_the_types_the_channel_reads() -> None:
    fake = FakeBotApi(allow_any_webhook_url=True)
    await fake.start()
    try:
        url = "http://127.0.0.1:8080/webhooks/telegram/telegram-bot-api/key"
        await register_webhook(replace(config(fake), webhook_url=url))
        assert fake.webhook.url == url
        assert fake.webhook.secret_token == webhook_secret({"bot_token": DEFAULT_TOKEN})
        assert fake.allowed_updates == {"message", "edited_message"}
    finally:
        await fake.close()


async def test_a_refused_webhook_url_is_named(fake_bot_api: FakeBotApi) -> None:
    refused = replace(config(fake_bot_api), webhook_url="http://127.0.0.1:8080/webhooks/x")
    with pytest.raises(CheckFailed, match="(?i)Telegram refused: bad webhook: an https url"):
        await register_webhook(refused)
