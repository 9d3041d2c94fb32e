"""Work run `to_the_end` finishes when its caller is cancelled, and the caller is still
cancelled; uncancelled, it is just the work's result or error."""

from __future__ import annotations

import asyncio

import pytest

from storage.uninterrupted import to_the_end


async def test_a_cancelled_caller_waits_for_the_work_to_finish_then_is_cancelled() -> None:
    steps: list[str] = []

    async def work() -> str:
        steps.append("began")
        await asyncio.sleep(0.05)
        steps.append("finished")
        return "done"

    caller = asyncio.create_task(to_the_end(work()))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert steps == ["began", "finished"], "the cancel ended the caller before the work"


async def test_uncancelled_it_returns_the_result_or_raises_the_error() -> None:
    async def fails() -> None:
        raise LookupError("no such row")

    async def answers() -> int:
        return 42

    assert await to_the_end(answers()) == 42
    with pytest.raises(LookupError, match="no such row"):
        await to_the_end(fails())
