"""Fixtures for SMS tests: a local fake of Twilio's Messages API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fake_twilio import FakeTwilio


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    """A started FakeTwilio on 127.0.0.1 and a free port; closed after the test."""
    fake = FakeTwilio()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.close()
