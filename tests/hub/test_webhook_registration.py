"""Providers are told each webhook account's URL: a refusal is logged and the rest go on."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from channels import registry
from channels.base import ChannelConfig, CheckFailed, ProviderSpec
from hub.context import Hub
from hub.provisioning import create_channel, draft_account
from hub.webhook_registration import register_all
from tests.workspace import SMS_ACCOUNT_SID, seed_workspace


async def test_every_active_webhook_account_is_registered_and_a_refusal_is_logged(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await seed_workspace(hub)
    draft = draft_account(
        "sms",
        address="+15005550007",
        credentials={"account_sid": SMS_ACCOUNT_SID, "auth_token": "x" * 32},
    )
    async with hub.engine.begin() as conn:
        second = await create_channel(conn, hub.secrets, ws.id, draft, name="Second")
    told: list[str | None] = []

    async def register(config: ChannelConfig) -> None:
        if config.address == "+15005550007":
            raise CheckFailed("the provider refused the URL")
        told.append(config.webhook_url)

    original = registry.provider_spec

    def with_register(kind: str, provider: str) -> ProviderSpec:
        return replace(original(kind, provider), register=register)

    monkeypatch.setattr(registry, "provider_spec", with_register)
    with caplog.at_level(logging.WARNING, logger="hub.webhook_registration"):
        await register_all(hub)
    assert told == [ws.sms_webhook_url]
    assert [record.getMessage() for record in caplog.records] == [
        f"channel {second.id}: webhook not registered: the provider refused the URL"
    ]


async def test_an_account_that_fails_otherwise_is_logged_and_the_others_still_registered(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await seed_workspace(hub)
    told: list[str | None] = []

    async def register(config: ChannelConfig) -> None:
        told.append(config.webhook_url)

    original = registry.provider_spec
    monkeypatch.setattr(
        registry, "provider_spec", lambda k, p: replace(original(k, p), register=register)
    )
    real_get = hub.channels.get
    calls = 0

    async def failing_first(channel_id: int) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("settings no longer valid")
        return await real_get(channel_id)

    draft = draft_account(
        "sms",
        address="+15005550007",
        credentials={"account_sid": SMS_ACCOUNT_SID, "auth_token": "x" * 32},
    )
    async with hub.engine.begin() as conn:
        await create_channel(conn, hub.secrets, ws.id, draft, name="Second")
    monkeypatch.setattr(hub.channels, "get", failing_first)
    with caplog.at_level(logging.WARNING, logger="hub.webhook_registration"):
        await register_all(hub)  # raises nothing
    assert len(told) == 1
    assert any("webhook not registered" in r.getMessage() for r in caplog.records)
