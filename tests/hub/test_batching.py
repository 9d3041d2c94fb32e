"""The ingest batcher (hub/batching.py): answers after commit, publishes in commit order, and
stops without cutting a commit short or leaving a request unanswered."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from hub.batching import BatcherStopped, IngestBatcher
from storage.sql import KeptConnection
from timeline.domain import LoggedEvent
from timeline.ingest import IngestOutcome

AT = datetime(2026, 12, 7, tzinfo=UTC)


class RecordingPipeline:
    """Commits in `commit_seconds`, recording each batch once committed; each publish takes
    `publish_seconds` and is recorded."""

    def __init__(
        self, publish_seconds: float = 0.0, failing_publishes: int = 0, commit_seconds: float = 0.0
    ) -> None:
        self.commit_seconds = commit_seconds
        self.publish_seconds = publish_seconds
        self.failing_publishes = failing_publishes
        self.committed: list[list[str]] = []
        self.published: list[list[str]] = []

    def kept_connection(self) -> KeptConnection:
        return KeptConnection(create_async_engine("sqlite+aiosqlite://"))

    async def commit(self, requests: list[str], via: KeptConnection) -> IngestOutcome:
        await asyncio.sleep(self.commit_seconds)
        self.committed.append(list(requests))
        return IngestOutcome(
            appended=len(requests),
            logged=[
                LoggedEvent(n, 1, "timeline.event_appended", {"r": r}, AT)
                for n, r in enumerate(requests, start=1)
            ],
        )

    async def publish(self, events: list[LoggedEvent]) -> None:
        await asyncio.sleep(self.publish_seconds)
        if self.failing_publishes:
            self.failing_publishes -= 1
            raise ConnectionError("redis went away")
        self.published.append([event.data["r"] for event in events])


def batcher_for(pipeline: RecordingPipeline, **options: Any) -> IngestBatcher:
    batcher = IngestBatcher(pipeline, **options)  # type: ignore[arg-type]
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


async def test_batches_committed_during_a_publish_are_published_together() -> None:
    pipeline = RecordingPipeline(publish_seconds=0.05)
    batcher = batcher_for(pipeline)
    try:
        for n in range(3):
            await submit(batcher, f"r{n}")
        await batcher.stop()
    finally:
        await batcher.stop()
    assert pipeline.published == [["r0"], ["r1", "r2"]]


async def test_stopping_publishes_what_committed_batches_did() -> None:
    pipeline = RecordingPipeline(publish_seconds=0.01)
    batcher = batcher_for(pipeline)
    await asyncio.gather(*(submit(batcher, f"r{n}") for n in range(20)))
    await batcher.stop()
    assert sorted(flattened(pipeline.published)) == sorted(f"r{n}" for n in range(20))


async def test_stopping_finishes_the_batch_being_committed_and_refuses_what_waits() -> None:
    """The hub stops: the batch in its transaction commits and is answered (a cancel there
    would abandon the connection mid-transaction); requests queued behind it, and any sent
    after, are refused at once (their senders answer 503), never left waiting."""
    pipeline = RecordingPipeline(commit_seconds=0.2)
    batcher = batcher_for(pipeline)
    committing = asyncio.create_task(submit(batcher, "r0"))
    await asyncio.sleep(0.05)  # r0's commit is under way
    queued = [asyncio.create_task(submit(batcher, f"r{n}")) for n in (1, 2)]
    await asyncio.sleep(0)
    await asyncio.wait_for(batcher.stop(), timeout=2)
    outcome = await asyncio.wait_for(committing, timeout=1)
    assert outcome.appended == 1
    assert pipeline.committed == [["r0"]]
    for request in queued:
        with pytest.raises(BatcherStopped):
            await asyncio.wait_for(request, timeout=1)
    with pytest.raises(BatcherStopped):
        await asyncio.wait_for(submit(batcher, "late"), timeout=1)
    assert pipeline.committed == [["r0"]]
    assert flattened(pipeline.published) == ["r0"]


async def test_stopping_while_a_batch_is_gathered_refuses_its_requests() -> None:
    pipeline = RecordingPipeline()
    batcher = batcher_for(pipeline, gather_from=2, gather_seconds=5.0)
    await submit_all(batcher, "a", 3)
    gathered = asyncio.create_task(submit(batcher, "b0"))  # the runner waits for two more
    await asyncio.sleep(0.05)
    await asyncio.wait_for(batcher.stop(), timeout=2)
    with pytest.raises(BatcherStopped):
        await asyncio.wait_for(gathered, timeout=1)
    assert pipeline.committed == [["a0", "a1", "a2"]]


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
    assert "publishing 1 domain events of 1 committed batches failed" in caplog.text


async def submit_all(batcher: IngestBatcher, prefix: str, count: int, after: float = 0.0) -> None:
    """Submit `count` requests at once, `after` seconds from now; return when all committed."""
    await asyncio.sleep(after)
    await asyncio.gather(*(submit(batcher, f"{prefix}{n}") for n in range(count)))


async def test_after_a_big_batch_the_next_one_waits_for_as_many_requests() -> None:
    pipeline = RecordingPipeline()
    batcher = batcher_for(pipeline, gather_from=8, gather_seconds=5.0)
    try:
        await submit_all(batcher, "a", 10)
        await asyncio.gather(submit_all(batcher, "b", 4), submit_all(batcher, "c", 6, after=0.02))
    finally:
        await batcher.stop()
    assert [len(batch) for batch in pipeline.committed] == [10, 10]


async def test_the_wait_for_more_requests_is_bounded() -> None:
    pipeline = RecordingPipeline()
    batcher = batcher_for(pipeline, gather_from=8, gather_seconds=0.05)
    await submit_all(batcher, "a", 10)
    started = asyncio.get_running_loop().time()
    await submit_all(batcher, "b", 3)
    waited = asyncio.get_running_loop().time() - started
    await batcher.stop()
    assert [len(batch) for batch in pipeline.committed] == [10, 3]
    assert 0.04 <= waited < 4.0


async def test_after_a_small_batch_the_next_one_does_not_wait() -> None:
    pipeline = RecordingPipeline()
    batcher = batcher_for(pipeline, gather_from=8, gather_seconds=5.0)
    await submit_all(batcher, "a", 7)
    await asyncio.wait_for(submit_all(batcher, "b", 2), timeout=2.0)
    await batcher.stop()
    assert [len(batch) for batch in pipeline.committed] == [7, 2]
