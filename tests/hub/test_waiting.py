"""A wait with a limit (hub/waiting.py) ends in time, and a cancel that comes in the same loop
turn as what it waits for still cancels the waiter: a loop stopped by cancelling stops."""

from __future__ import annotations

import asyncio

from hub.waiting import finished_within


async def test_it_tells_whether_the_awaitable_finished_in_time() -> None:
    event = asyncio.Event()
    assert await finished_within(0.01, event.wait()) is False
    event.set()
    assert await finished_within(5, event.wait()) is True


async def test_a_cancel_in_the_same_turn_as_the_wake_stops_a_waiting_loop() -> None:
    wake = asyncio.Event()
    rounds = 0

    async def keep_waking() -> None:
        nonlocal rounds
        while True:
            wake.clear()
            rounds += 1
            await finished_within(0.05, wake.wait())

    task = asyncio.create_task(keep_waking())
    await asyncio.sleep(0.01)
    wake.set()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1)
    assert done == {task}, f"the loop swallowed its cancel and went round {rounds} times"
    assert task.cancelled()
