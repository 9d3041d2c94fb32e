"""The ingest batcher (hub/batching.py): answers after commit, publishes in commit order."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from hub.batching import IngestBatcher
from timeline.domain import DomainEvent
from timeline.ingest import IngestOutcome


class RecordingPipeline:
    """Commits at once; each publish takes `publish_seconds` and is recorded."""

    def __init__(self, publish_seconds: float = 0.0, failing_publishes: int = 0) -> None:
        self.publish_seconds = publish_seconds
        self.failing_publishes = failing_publishes
        self.published: list[list[str]] = []

    async def commit(self, requests: list[str]) -> IngestOutcome:
        return IngestOutcome(
            appended=len(requests),
            domain_events=[DomainEvent(1, "timeline.event_appended", {"r": r}) for r in requests],
        )

    async def publish(self, events: list[DomainEvent]) -> None:
        await asyncio.sleep(self.publish_seconds)
        if self.failing_publishes:
            self.failing_publishes -= 1
            raise ConnectionError("redis went away")
        self.published.append([event.data["r"] for event in events])


def batcher_for(pipeline: RecordingPipeline) -> IngestBatcher:
    batcher = IngestBatcher(pipeline)  # type: ignore[arg-type]
    batcher.start()
    return batcher


def flattened(published: list[list[str]]) -> list[str]:
    return [request for batch in published for request in batch]


async def submit(batcher: IngestBatcher, request: str) -> Any:
    return await batcher.submit(request)  # type: ignore[arg-type]


async def test_answers_do_not_wait_for_publishing_and_events_keep_commit_order() -> None:
    pipeline = RecordingPipeline(publish_seconds=0.05)
    batcher = batcher_for(pipeline)
    try:
        for n in range(3):
            await asyncio.wait_for(submit(batcher, f"r{n}"), timeout=0.04)
        assert pipeline.published == []  # all three answered before the first publish ended
        await batcher.stop()
        assert flattened(pipeline.published) == ["r0", "r1", "r2"]
    finally:
        await batcher.stop()


async def test_stopping_publishes_what_committed_batches_did() -> None:
    pipeline = RecordingPipeline(publish_seconds=0.01)
    batcher = batcher_for(pipeline)
    await asyncio.gather(*(submit(batcher, f"r{n}") for n in range(20)))
    await batcher.stop()
    assert sorted(flattened(pipeline.published)) == sorted(f"r{n}" for n in range(20))


async def test_a_failed_publish_is_logged_and_later_batches_still_publish(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pipeline = RecordingPipeline(failing_publishes=1)
    batcher = batcher_for(pipeline)
    with caplog.at_level(logging.ERROR, logger="hub.batching"):
        await submit(batcher, "lost")
        await submit(batcher, "kept")
        await batcher.stop()
    assert flattened(pipeline.published) == ["kept"]
    assert "publishing 1 domain events of a committed batch failed" in caplog.text
