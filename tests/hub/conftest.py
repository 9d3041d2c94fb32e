"""Fixtures for hub tests: a local fake of Twilio's API (its account: the one seeded workspaces
use, tests.workspace)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.channels.sms.fake_twilio import FakeTwilio
from tests.workspace import SMS_ACCOUNT_SID, SMS_AUTH_TOKEN


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    """A started FakeTwilio on 127.0.0.1 and a free port; closed after the test."""
    fake = FakeTwilio(account_sid=SMS_ACCOUNT_SID, auth_token=SMS_AUTH_TOKEN)
    await fake.start()
    yield fake
    await fake.close()
