"""The embedded job runner (hub/jobs.py InProcessJobs): stopping lets a job under way finish."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.jobs import InProcessJobs


async def test_stopping_lets_a_job_under_way_finish() -> None:
    started, finished = asyncio.Event(), []

    async def slow(_: Any, n: int) -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append(n)

    jobs = InProcessJobs({"slow": slow}, runners=2)
    await jobs.start(hub=object())  # type: ignore[arg-type]
    await jobs.enqueue("slow", 1)
    await started.wait()
    await jobs.stop()
    assert finished == [1]


async def test_a_job_that_outlives_the_grace_period_is_cancelled() -> None:
    started, cancelled = asyncio.Event(), []

    async def stuck(_: Any) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    jobs = InProcessJobs({"stuck": stuck}, runners=1, grace_seconds=0.1)
    await jobs.start(hub=object())  # type: ignore[arg-type]
    await jobs.enqueue("stuck")
    await started.wait()
    await asyncio.wait_for(jobs.stop(), timeout=5)
    assert cancelled == [True]
