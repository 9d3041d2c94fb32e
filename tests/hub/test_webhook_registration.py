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
