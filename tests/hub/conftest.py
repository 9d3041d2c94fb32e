"""Fixtures for hub tests: a local fake of Twilio's API (its account: the fake's defaults)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.channels.sms.fake_twilio import FakeTwilio


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """A started FakeTwilio on 127.0.0.1 and a free port; closed after the test."""
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.close()
