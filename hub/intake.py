"""Hands one raw payload through its adapter to the pipeline; quarantines what cannot be parsed
and what the database refuses."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeGuard

from channels.base import AttachmentFetcher, MalformedPayload, UnsupportedEvent
from hub.channel_directory import Channel
from hub.log_text import printable
from storage.sql import refusal
from timeline.events import InboundEvent, RawPayload
from timeline.ingest import IngestRequest
from timeline.quarantine import quarantine_payload

if TYPE_CHECKING:
    from hub.context import Hub

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What became of a payload: committed events, ignored as unsupported, or quarantined."""

    events: int = 0
    unsupported: str | None = None
    quarantined_id: int | None = None
    error: str | None = None


async def take_in(
    hub: Hub,
    channel: Channel,
    raw: RawPayload,
    decoded: object = None,
    *,
    batched: bool = True,
    quarantine: bool = True,
) -> IntakeResult:
    """Parse and persist; returns only after the events are committed.

    `decoded` is what the adapter's `verify` decoded of these bytes, if it checked them. A
    malformed payload, or one the database refuses to store (as it would again: a value out of
    range, say), is quarantined with the reason, unless it is already there (a replay): then
    the reason is only reported. Any other failure (the database unreachable) propagates, and
    nothing of the payload is kept: the provider's retry will bring it again.
    """
    channel_id = channel.context.channel_account_id
    try:
        events = parse_payload(channel, raw, decoded)
    except UnsupportedEvent as reason:
        log.info("channel %s: unsupported event ignored: %s", channel_id, printable(reason))
        return IntakeResult(unsupported=str(reason))
    except MalformedPayload as reason:
        return await _refused(hub, channel, raw, str(reason), quarantine)
    request = IngestRequest(
        channel=channel.context, raw=raw, events=await with_files(channel, raw, events)
    )
    try:
        if batched:
            await hub.batcher.submit(request)
        else:
            await hub.pipeline.ingest([request])
    except Exception as error:
        why = refusal(error)
        if why is None:
            raise
        return await _refused(hub, channel, raw, f"the database refused it: {why}", quarantine)
    return IntakeResult(events=len(events))


def parse_payload(channel: Channel, raw: RawPayload, decoded: object = None) -> list[InboundEvent]:
    """The adapter's events for `raw`. A parser that fails otherwise than the contract says (a
    bug) is logged with its traceback and its payload treated as malformed: quarantined, to be
    replayed once the parser is fixed, rather than refused until the provider gives up."""
    try:
        return channel.adapter.parse(raw, decoded)
    except (UnsupportedEvent, MalformedPayload):
        raise
    except Exception as error:
        log.exception("channel %s: the parser failed", channel.context.channel_account_id)
        raise MalformedPayload(f"the parser failed: {type(error).__name__}: {error}") from error


async def with_files(
    channel: Channel, raw: RawPayload, events: list[InboundEvent]
) -> list[InboundEvent]:
    """The events with their attachments' bytes, from an adapter that fetches them. The
    provider out of reach raises (nothing is stored; its retry brings the payload again); a
    fetcher that fails otherwise (a bug) is logged and the events keep their files' metadata,
    so that one payload never holds up those behind it."""
    adapter = channel.adapter
    if not _fetches_files(adapter):
        return events
    try:
        return await adapter.fetch_attachments(raw, events)
    except (OSError, TimeoutError):
        raise
    except Exception:
        log.exception("channel %s: fetching files failed", channel.context.channel_account_id)
        return events


def _fetches_files(adapter: object) -> TypeGuard[AttachmentFetcher]:
    """Whether the adapter fetches files: one attribute lookup, where `isinstance` against a
    Protocol inspects the class's members on every call."""
    return callable(getattr(adapter, "fetch_attachments", None))


async def _refused(
    hub: Hub, channel: Channel, raw: RawPayload, reason: str, quarantine: bool
) -> IntakeResult:
    if not quarantine:
        return IntakeResult(error=reason)
    async with hub.engine.begin() as conn:
        item_id = await quarantine_payload(
            conn,
            channel.context.workspace_id,
            channel.context.channel_account_id,
            raw,
            reason,
        )
    log.warning(
        "channel %s: payload quarantined as #%s: %s",
        channel.context.channel_account_id,
        item_id,
        printable(reason),
    )
    return IntakeResult(quarantined_id=item_id, error=reason)
