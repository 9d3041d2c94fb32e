"""Edits of messages: an edit's text replaces the message's, and each text replaced is kept as
a version; a redelivered edit is applied once, and the edit of a message we never stored is
kept on the timeline as an event of its own."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import insert_rows
from storage.sql import fetch_together, in_list
from timeline.domain import DomainEvent
from timeline.events import InboundEvent, MessageEdited, MessageReceived
from timeline.models import MessageVersion, TimelineEvent

events = TimelineEvent.__table__
versions = MessageVersion.__table__

_ORIGINALS = (
    select(
        events.c.channel_account_id,
        events.c.external_id,
        events.c.id,
        events.c.workspace_id,
        events.c.body,
        func.coalesce(events.c.edited_at, events.c.occurred_at),
        select(func.count())
        .where(versions.c.event_id == events.c.id)
        .correlate(events)
        .scalar_subquery(),
    )
    .where(in_list(events.c.external_id, "originals"))
    .where(in_list(events.c.channel_account_id, "accounts"))
    .where(events.c.kind == "message_received")
)
_APPLIED = (
    select(versions.c.channel_account_id, versions.c.external_id)
    .where(in_list(versions.c.external_id, "edits"))
    .where(in_list(versions.c.channel_account_id, "accounts"))
)
_NEW_TEXT = (
    update(events)
    .where(events.c.id == bindparam("event_id"))
    .values(body=bindparam("new_body"), edited_at=bindparam("new_edited_at"))
)


@dataclass(frozen=True, slots=True)
class Original:
    """A message as an edit finds it: its current text, when that was written, and how many
    versions it keeps already."""

    event_id: int
    workspace_id: int
    body: str
    written_at: datetime
    versions: int = 0


@dataclass(slots=True)
class BatchEdits:
    """A batch's edits once looked up: those applied before (duplicates), and those whose
    message is stored or arrives in the same batch (applied after the batch's events are)."""

    applied_before: set[tuple[int, str]] = field(default_factory=set)
    stored: dict[tuple[int, str], Original] = field(default_factory=dict)
    to_apply: list[MessageEdited] = field(default_factory=list)

    def absorbs(self, event: InboundEvent, arriving: set[tuple[int, str]]) -> bool:
        """Whether the edit is a duplicate or to be applied (rather than stored as an event)."""
        if not isinstance(event, MessageEdited):
            return False
        if (event.channel_account_id, event.external_id) in self.applied_before:
            return True
        original = (event.channel_account_id, event.original_id)
        if original in self.stored or original in arriving:
            self.to_apply.append(event)
            return True
        return False

    async def apply(
        self, conn: AsyncConnection, appended: Iterable[tuple[int, InboundEvent, int]]
    ) -> list[DomainEvent]:
        """Apply the edits to stored messages and to those `appended` (workspace, event, id)
        by this batch: one insert of the versions, one update of the texts."""
        if not self.to_apply:
            return []
        originals = dict(self.stored)
        for workspace_id, event, event_id in appended:
            if isinstance(event, MessageReceived):
                pair = (event.channel_account_id, event.external_id)
                originals[pair] = Original(event_id, workspace_id, event.body, event.occurred_at)
        rows, texts, published = _edited(originals, self.to_apply)
        await insert_rows(conn, versions, rows)
        if texts:
            await conn.execute(_NEW_TEXT, texts)
        return published


async def look_up_edits(conn: AsyncConnection, edits: list[MessageEdited]) -> BatchEdits:
    """The messages the edits name that are stored, and the edits applied before."""
    originals, applied = await fetch_together(
        conn,
        (_ORIGINALS, _APPLIED),
        {
            "accounts": list({edit.channel_account_id for edit in edits}),
            "originals": list({edit.original_id for edit in edits}),
            "edits": list({edit.external_id for edit in edits}),
        },
    )
    return BatchEdits(
        applied_before={(account, external_id) for account, external_id in applied},
        stored={
            (account, external_id): Original(*rest) for account, external_id, *rest in originals
        },
    )


def _edited(
    originals: dict[tuple[int, str], Original], edits: list[MessageEdited]
) -> tuple[list[dict[str, object]], list[dict[str, object]], list[DomainEvent]]:
    """Each message's edits in the order they were made: a newer text replaces the current one
    (kept as a version), an edit older than the current text is only kept as a version."""
    by_original: dict[tuple[int, str], list[MessageEdited]] = defaultdict(list)
    for edit in edits:
        by_original[(edit.channel_account_id, edit.original_id)].append(edit)
    rows: list[dict[str, object]] = []
    texts: list[dict[str, object]] = []
    published: list[DomainEvent] = []
    for pair, its_edits in by_original.items():
        original = originals[pair]
        current = _Text(original.body, original.written_at)
        replaced = False
        for number, edit in enumerate(sorted(its_edits, key=_made_at), start=original.versions + 1):
            newer = edit.occurred_at >= current.written_at
            kept = current if newer else _Text(edit.body, edit.occurred_at)
            rows.append(
                {
                    "event_id": original.event_id,
                    "version": number,
                    "workspace_id": original.workspace_id,
                    "channel_account_id": edit.channel_account_id,
                    "external_id": edit.external_id,
                    "body": kept.body,
                    "written_at": kept.written_at,
                }
            )
            if newer:
                current, replaced = _Text(edit.body, edit.occurred_at), True
            published.append(
                DomainEvent(
                    original.workspace_id,
                    "timeline.message_edited",
                    {
                        "event_id": original.event_id,
                        "version": number,
                        "channel_account_id": edit.channel_account_id,
                    },
                )
            )
        if replaced:
            texts.append(
                {
                    "event_id": original.event_id,
                    "new_body": current.body,
                    "new_edited_at": current.written_at,
                }
            )
    return rows, texts, published


class _Text(NamedTuple):
    body: str
    written_at: datetime


def _made_at(edit: MessageEdited) -> tuple[datetime, str]:
    return edit.occurred_at, edit.external_id
