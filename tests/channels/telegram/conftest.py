"""Fixtures for Telegram tests: a started fake Bot API server, and a Bot pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot

from .fake_bot_api import FakeBotApi


@pytest.fixture
async def fake_bot_api() -> AsyncIterator[FakeBotApi]:
    """A FakeBotApi on 127.0.0.1 and a free port; closed after the test."""
    fake = FakeBotApi()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()


def bot_for(fake: FakeBotApi, token: str | None = None) -> Bot:
    """python-telegram-bot's Bot, talking to the fake instead of api.telegram.org."""
    return Bot(token or fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url)


@pytest.fixture
async def bot(fake_bot_api: FakeBotApi) -> AsyncIterator[Bot]:
    """An initialized Bot (it has called getMe) on the fake; shut down after the test."""
    async with bot_for(fake_bot_api) as started:
        yield started
