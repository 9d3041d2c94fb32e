"""Groups concurrent webhook deliveries into one ingest transaction each: at once when load is
light, gathering for a few milliseconds more when it is heavy."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys

from hub.waiting import finished_within
from timeline.domain import LoggedEvent
from timeline.ingest import IngestOutcome, IngestPipeline, IngestRequest

log = logging.getLogger(__name__)

_Queued = tuple[IngestRequest, asyncio.Future[IngestOutcome]]


class BatcherStopped(Exception):
    """The hub is stopping: the request was not taken in (its sender is asked to retry)."""


class IngestBatcher:
    """One runner takes everything queued at that moment and commits it in one transaction.

    Under light load a batch is one request (no added latency); under heavy load requests pile up
    while a commit is in flight and share the next one. A batch's cost is mostly per statement,
    not per event, so under heavy load the runner also gathers: when the last batch held at least
    `gather_from` requests and fewer are queued now, it waits up to `gather_seconds` for as many
    as the last batch held (the senders it has just answered are likely to send again). Without
    that, a closed loop of clients settles into two halves that take turns, and every batch is
    half as big as it could be, at more CPU per event (two runners per process were worse still;
    docs/performance.md). Requests are answered as soon as their batch commits. Its domain events
    are handed to one publisher task, which publishes batch after batch in commit order while the
    runner goes on to the next batch (a publish is a round trip to Redis the next batch need not
    wait for); batches that commit while a publish is under way are published together. If a
    batch fails, its requests are retried one by one so a single bad request cannot fail its
    neighbours. Stopping, the batch being committed is committed and answered; requests not yet
    in a batch, and any submitted after, are refused with BatcherStopped.
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        *,
        max_batch: int = 100,
        gather_from: int = 8,
        gather_seconds: float = 0.003,
    ) -> None:
        self._pipeline = pipeline
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue()
        self._max_batch = max_batch
        self._gather_from = gather_from
        self._gather_seconds = gather_seconds
        self._last_batch_size = 0
        self._awaited = sys.maxsize  # queued requests the runner is waiting for, if it is
        self._arrived = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._connection = pipeline.kept_connection()  # the runner's, for batch after batch
        self._to_publish: asyncio.Queue[list[LoggedEvent]] = asyncio.Queue()
        self._publisher: asyncio.Task[None] | None = None
        self._stopped = False
        self._committing = False

    async def submit(self, request: IngestRequest) -> IngestOutcome:
        """Returns once the request's events are committed (or raises why they could not be)."""
        if self._stopped:
            raise BatcherStopped("the hub is stopping")
        future: asyncio.Future[IngestOutcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((request, future))
        if self._queue.qsize() >= self._awaited:
            self._arrived.set()
        return await future

    def start(self) -> None:
        self._runner = asyncio.create_task(self._run())
        self._publisher = asyncio.create_task(self._publish())

    async def stop(self, publish_grace_seconds: float = 5.0) -> None:
        """Stop taking batches (the one being committed is finished and answered, requests
        still queued are refused), then publish what committed batches did (within the
        grace)."""
        self._stopped = True
        if self._runner is not None:
            # A batch in its transaction is let finish (the runner then sees it is stopped): a
            # cancel there would abandon the kept connection mid-transaction. A runner waiting
            # for requests holds no transaction, and is cancelled.
            if not self._committing:
                self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        while not self._queue.empty():
            _refuse([self._queue.get_nowait()])
        await self._connection.close()
        if self._publisher is None:
            return
        if not await finished_within(publish_grace_seconds, self._to_publish.join()):
            log.warning(
                "stopping with %d batches' domain events unpublished", self._to_publish.qsize()
            )
        self._publisher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._publisher

    async def _run(self) -> None:
        batch: list[_Queued] = []
        try:
            while not self._stopped:
                batch = []
                await self._gather(batch)
                self._committing = True
                try:
                    await self._commit(batch)
                finally:
                    self._committing = False
        finally:
            _refuse(batch)  # cancelled while gathering it: refused (answered ones are skipped)

    async def _gather(self, batch: list[_Queued]) -> None:
        """Fill `batch` with the next requests (in place: a cancel leaves what it holds)."""
        batch.append(await self._queue.get())
        self._take_queued(batch)
        expected = min(self._last_batch_size, self._max_batch)
        if expected >= self._gather_from and len(batch) < expected:
            await self._wait_for_queued(expected - len(batch))
            self._take_queued(batch)
        self._last_batch_size = len(batch)

    def _take_queued(self, batch: list[_Queued]) -> None:
        while len(batch) < self._max_batch and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _wait_for_queued(self, count: int) -> None:
        """Until `count` requests are queued, or `gather_seconds` have passed."""
        self._awaited = count
        self._arrived.clear()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._gather_seconds):
                    await self._arrived.wait()
        finally:
            self._awaited = sys.maxsize

    async def _commit(self, batch: list[_Queued]) -> None:
        try:
            outcome = await self._pipeline.commit(
                [request for request, _ in batch], via=self._connection
            )
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            log.info("batch of %d failed (%s); retrying one by one", len(batch), error)
            for item in batch:
                await self._commit([item])
            return
        for _, future in batch:
            _settle(future, outcome=outcome)
        if outcome.logged:
            self._to_publish.put_nowait(outcome.logged)

    async def _publish(self) -> None:
        """Publish each committed batch's events; batches that committed while the previous
        publish was under way go out together, still in commit order (a publish costs about as
        much CPU whatever it carries)."""
        while True:
            events = await self._to_publish.get()
            batches = 1
            while not self._to_publish.empty():
                events = events + self._to_publish.get_nowait()
                batches += 1
            try:
                await self._pipeline.publish(events)
            except Exception:
                log.exception(
                    "publishing %d domain events of %d committed batches failed",
                    len(events),
                    batches,
                )
            finally:
                for _ in range(batches):
                    self._to_publish.task_done()


def _refuse(batch: list[_Queued]) -> None:
    for _, future in batch:
        _settle(future, error=BatcherStopped("the hub is stopping"))


def _settle(
    future: asyncio.Future[IngestOutcome],
    *,
    outcome: IngestOutcome | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert outcome is not None
        future.set_result(outcome)
