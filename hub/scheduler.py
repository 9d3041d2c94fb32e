"""Claims due rows from the database and enqueues their jobs, so nothing waits on Redis's memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from timeline.outbox import due_message_ids

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)


async def enqueue_due_work(hub: Hub) -> int:
    """One sweep: every outbound message whose (re)try is due gets a send_message job."""
    async with hub.reads.connect() as conn:
        message_ids = await due_message_ids(conn)
    for message_id in message_ids:
        await hub.jobs.enqueue("send_message", message_id)
    return len(message_ids)


async def run_scheduler(hub: Hub, interval: float, stopping: asyncio.Event) -> None:
    """Sweep every `interval` seconds until `stopping` is set; a sweep under way is finished,
    never cut off mid-query (its connection goes back to the pool)."""
    while not stopping.is_set():
        try:
            await enqueue_due_work(hub)
        except Exception:
            log.exception("scheduler sweep failed; trying again in %.1f s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
