"""Fetching files between parsing and storing (hub.intake.with_files): a provider out of reach
holds the payload back for its retry; a fetcher's bug never does."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from hub.intake import with_files
from timeline.events import InboundEvent, RawPayload

RAW = RawPayload("application/json", b"{}")
EVENTS: list[InboundEvent] = []


class _Fetcher:
    def __init__(self, error: Exception) -> None:
        self.error = error

    async def fetch_attachments(self, raw: RawPayload, events: list[InboundEvent]) -> Any:
        raise self.error


def _channel(error: Exception) -> Any:
    return SimpleNamespace(adapter=_Fetcher(error), context=SimpleNamespace(channel_account_id=7))


async def test_a_fetcher_bug_leaves_the_events_as_parsed() -> None:
    assert await with_files(_channel(ValueError("zip() argument 2 is shorter")), RAW, EVENTS) == []


async def test_the_provider_out_of_reach_raises_for_a_retry() -> None:
    with pytest.raises(ConnectionError):
        await with_files(_channel(ConnectionError("getFile: timed out")), RAW, EVENTS)
