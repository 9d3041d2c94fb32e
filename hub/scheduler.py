"""The scheduler's sweeps: due outbound messages get their jobs, due snoozed conversations wake,
audit entries past their retention go.

What is due lives in the database, so nothing waits on Redis's memory; every serving process
sweeps, and the sweeps are safe to run at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from hub.publishing import change
from hub.waiting import finished_within
from timeline.audit_retention import expire_entries
from timeline.conversation_service import WAKE_BATCH, any_due
from timeline.outbox import due_message_ids

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)


async def enqueue_due_work(hub: Hub) -> int:
    """Every outbound message whose (re)try is due gets a send_message job."""
    async with hub.reads.connect() as conn:
        message_ids = await due_message_ids(conn)
    for message_id in message_ids:
        await hub.jobs.enqueue("send_message", message_id)
    return len(message_ids)


async def wake_snoozed(hub: Hub) -> int:
    """Open the snoozed conversations whose time has come, a batch per transaction, and
    logging and publishing each batch's events; how many woke."""
    async with hub.reads.connect() as conn:
        if not await any_due(conn):
            return 0
    woken = 0
    while True:
        async with change(hub) as changing:
            batch = changing.caused(
                await hub.conversations.wake_due(changing.conn, limit=WAKE_BATCH)
            )
        woken += len(batch.conversation_ids)
        if len(batch.conversation_ids) < WAKE_BATCH:
            return woken


AUDIT_EXPIRY_BATCH = 5000


async def expire_audit_entries(hub: Hub) -> int:
    """Remove audit entries older than the retention period, a batch per transaction; how many
    went. The rest of every chain still verifies (timeline.audit_retention)."""
    older_than = datetime.now(UTC) - timedelta(days=hub.settings.audit_retention_days)
    expired = 0
    while True:
        async with hub.engine.begin() as conn:
            batch = await expire_entries(conn, older_than, limit=AUDIT_EXPIRY_BATCH)
        expired += batch
        if batch < AUDIT_EXPIRY_BATCH:
            return expired


SWEEPS = (enqueue_due_work, wake_snoozed, expire_audit_entries)


async def run_scheduler(hub: Hub, interval: float, stopping: asyncio.Event) -> None:
    """Sweep every `interval` seconds until `stopping` is set; a sweep under way is finished,
    never cut off mid-query (its connection goes back to the pool). A sweep that fails does
    not hold up the others."""
    while not stopping.is_set():
        for sweep in SWEEPS:
            try:
                await sweep(hub)
            except Exception:
                log.exception(
                    "scheduler's %s failed; trying again in %.1f s", sweep.__name__, interval
                )
        await finished_within(interval, stopping.wait())
