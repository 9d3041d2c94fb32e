"""Replays quarantined payloads through their channel's adapter and the pipeline."""

from __future__ import annotations

from hub.context import Hub
from hub.intake import take_in
from timeline.quarantine import list_quarantined, mark_replayed


async def replay_quarantined(
    hub: Hub, ids: list[int] | None = None
) -> list[tuple[int, str | None]]:
    """Re-parse each pending item; an item that parses now is ingested and marked replayed.

    Returns (id, error) pairs: error is None for items that went through.
    """
    async with hub.engine.connect() as conn:
        items = await list_quarantined(conn, include_replayed=ids is not None, limit=100_000)
    wanted = [item for item in items if ids is None or item.id in ids]
    results: list[tuple[int, str | None]] = []
    for item in wanted:
        channel = await hub.channels.get(item.channel_account_id)
        outcome = await take_in(hub, channel, item.raw, batched=False, quarantine=False)
        async with hub.engine.begin() as conn:
            await mark_replayed(conn, item, outcome.error)
        results.append((item.id, outcome.error))
    return results
