"""Hands one raw payload through its adapter to the pipeline; quarantines what cannot be parsed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from channels.base import MalformedPayload, UnsupportedEvent
from hub.channel_directory import Channel
from hub.context import Hub
from timeline.events import RawPayload
from timeline.ingest import IngestRequest
from timeline.quarantine import quarantine_payload

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What became of a payload: committed events, ignored as unsupported, or quarantined."""

    events: int = 0
    unsupported: str | None = None
    quarantined_id: int | None = None
    error: str | None = None


async def take_in(
    hub: Hub, channel: Channel, raw: RawPayload, *, batched: bool = True, quarantine: bool = True
) -> IntakeResult:
    """Parse and persist; returns only after the events are committed.

    A malformed payload is quarantined, unless it is already there (a replay): then the parser's
    error is only reported.
    """
    try:
        events = channel.adapter.parse(raw)
    except UnsupportedEvent as reason:
        log.info(
            "channel %s: unsupported event ignored: %s", channel.context.channel_account_id, reason
        )
        return IntakeResult(unsupported=str(reason))
    except MalformedPayload as reason:
        if not quarantine:
            return IntakeResult(error=str(reason))
        async with hub.engine.begin() as conn:
            item_id = await quarantine_payload(
                conn,
                channel.context.workspace_id,
                channel.context.channel_account_id,
                raw,
                str(reason),
            )
        log.warning(
            "channel %s: malformed payload quarantined as #%s: %s",
            channel.context.channel_account_id,
            item_id,
            reason,
        )
        return IntakeResult(quarantined_id=item_id, error=str(reason))
    request = IngestRequest(channel=channel.context, raw=raw, events=events)
    if batched:
        await hub.batcher.submit(request)
    else:
        await hub.pipeline.ingest([request])
    return IntakeResult(events=len(events))
