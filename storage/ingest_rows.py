"""The rows an ingest plan writes, once their ids are known, and the writes both writers share
(consents)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sql import insert_ignoring_conflicts
from timeline.domain import DomainEvent, LoggedEvent
from timeline.events import ConsentChanged, MessageEdited, MessageReceived, ThreadKey
from timeline.field_changes import FieldChanged, by_hub
from timeline.identity_store import IdentityRow
from timeline.ingest_plan import (
    AppendedEvent,
    ChannelContext,
    ConversationChange,
    IngestPlan,
    NewSender,
    Sender,
    event_kind,
)
from timeline.models import ChangeSource, Consent, ConversationStatus, RecordType
from timeline.thread_keys import KeyOwner


@dataclass(slots=True)
class Written:
    """The ids a writer gave what the plan made: senders, conversations, events (in order)."""

    identities: dict[int, IdentityRow] = field(default_factory=dict)
    """id(NewSender) -> the identity and customer made for it."""
    conversations: dict[int, int] = field(default_factory=dict)
    """id(ConversationChange) -> the id of the conversation it opened."""
    event_ids: list[int] = field(default_factory=list)
    logged: list[LoggedEvent] = field(default_factory=list)
    """The domain events the writer logged for the batch (`EventsOf`), in the log's order."""

    def identity(self, sender: Sender) -> IdentityRow:
        return self.identities[id(sender)] if isinstance(sender, NewSender) else sender

    def conversation_id(self, change: ConversationChange) -> int:
        existing = change.existing
        return existing.id if existing is not None else self.conversations[id(change)]


EventsOf = Callable[[Written], Sequence[DomainEvent]]
"""The domain events a batch causes, given the ids its writer gave its rows: a writer logs them
in its own last statement."""


def customer_row(sender: NewSender, now: datetime) -> dict[str, object]:
    """A new sender's customer: it starts with what the batch brings it counted (a row is not
    updated in the transaction that inserted it: that would check its foreign keys again)."""
    return {
        "workspace_id": sender.workspace_id,
        "name": "",
        "name_folded": "",
        "attributes": {},
        "events_count": sender.activity.events,
        "last_seen_at": sender.activity.last_seen_at,
        "created_at": now,
    }


def conversation_row(
    change: ConversationChange, written: Written, now: datetime
) -> dict[str, object]:
    """A conversation the batch opens, its messages counted and its agent assigned."""
    sender = written.identity(change.sender)
    return {
        "workspace_id": change.workspace_id,
        "customer_id": sender.customer_id,
        "identity_id": sender.id,
        "channel_account_id": change.channel_account_id,
        "status": ConversationStatus.OPEN,
        "subject": change.subject,
        "assignee_id": change.assignee_id,
        "messages_count": change.messages,
        "last_message_at": change.last_message_at,
        "waiting_since": change.waiting_since,
        "created_at": now,
        "updated_at": now,
    }


def new_status(change: ConversationChange) -> str | None:
    """The status a stored conversation moves to: open, when a customer wrote to it."""
    if change.activates and change.status != ConversationStatus.OPEN:
        return ConversationStatus.OPEN
    return None


def field_changes(plan: IngestPlan) -> list[FieldChanged]:
    """What the batch changes of stored conversations' fields, for their history: the status
    a customer's message opens, and the agent routing gave one it reopened."""
    changed = []
    for change in plan.conversations:
        row, status = change.existing, new_status(change)
        if row is None or (status is None and not change.reopened):
            continue  # opened by the batch, or only counted: most messages
        values = {"status": status or row.status}
        if change.reopened:
            values["assignee_id"] = change.assignee_id
        changed += [
            by_hub(
                ChangeSource.INGEST,
                row.workspace_id,
                RecordType.CONVERSATION,
                row.id,
                name,
                getattr(row, name),
                value,
            )
            for name, value in values.items()
        ]
    return changed


def event_row(appended: AppendedEvent, written: Written) -> dict[str, object]:
    """An event as the timeline keeps it (its id, when the writer has drawn it, added)."""
    ctx, event = appended.channel, appended.event
    change = appended.conversation
    row: dict[str, object] = {
        "workspace_id": ctx.workspace_id,
        "customer_id": written.identity(appended.sender).customer_id,
        "conversation_id": written.conversation_id(change) if change else None,
        "channel_account_id": ctx.channel_account_id,
        "kind": event_kind(event),
        "direction": "inbound",
        "author_user_id": None,
        "external_id": event.external_id,
        "subject": None,
        "body": "",
        "attachments": [],
        "meta": {"sender": event.sender.value},
        "raw_ref": event.raw_ref,
        "occurred_at": event.occurred_at,
        "created_at": datetime.now(UTC),
    }
    if isinstance(event, MessageReceived):
        row.update(
            subject=event.subject,
            body=event.body,
            attachments=[a.metadata() for a in event.attachments],
            meta={
                "sender": event.sender.value,
                "automated": event.automated,
                "segments": event.segments,
                **dict(event.extra),
                **({"html": event.html} if event.html else {}),
                **({"quoted": event.quoted} if event.quoted else {}),
                **({"quoted_html": event.quoted_html} if event.quoted_html else {}),
            },
        )
    elif isinstance(event, MessageEdited):
        meta = {"sender": event.sender.value, "edit_of": event.original_id}
        row.update(body=event.body, meta=meta)
    elif isinstance(event, ConsentChanged):
        row["meta"] = {
            "sender": event.sender.value,
            "granted": event.granted,
            "keyword": event.keyword,
        }
    return row


def key_owners(plan: IngestPlan, written: Written) -> list[tuple[KeyOwner, ThreadKey]]:
    """The thread keys to register, each with its conversation and event."""
    return owned(plan, written, plan.registered_keys())


def owned(
    plan: IngestPlan, written: Written, keys: list[tuple[AppendedEvent, ThreadKey]]
) -> list[tuple[KeyOwner, ThreadKey]]:
    """Each of the batch's `keys` with the conversation and event its message was written to."""
    if not keys:
        return []
    positions = {id(appended): n for n, appended in enumerate(plan.appended)}
    registered = []
    for appended, key in keys:
        assert appended.conversation is not None
        owner = KeyOwner(
            appended.channel.workspace_id,
            appended.channel.channel_account_id,
            written.conversation_id(appended.conversation),
            written.event_ids[positions[id(appended)]],
        )
        registered.append((owner, key))
    return registered


def consent_row(
    ctx: ChannelContext, sender: Sender, event: ConsentChanged, written: Written
) -> dict[str, object]:
    return {
        "identity_id": written.identity(sender).id,
        "channel_account_id": ctx.channel_account_id,
        "workspace_id": ctx.workspace_id,
        "granted": event.granted,
        "keyword": event.keyword,
        "changed_at": event.occurred_at,
    }


async def save_consents(conn: AsyncConnection, plan: IngestPlan, written: Written) -> None:
    """Each consent as the newest word of its identity on its channel account."""
    table = Consent.__table__
    for ctx, sender, event in plan.consents:
        row = consent_row(ctx, sender, event, written)
        key = (table.c.identity_id == row["identity_id"]) & (
            table.c.channel_account_id == row["channel_account_id"]
        )
        result = await conn.execute(
            update(table)
            .where(key & (table.c.changed_at <= row["changed_at"]))
            .values(granted=row["granted"], keyword=row["keyword"], changed_at=row["changed_at"])
        )
        if result.rowcount == 0:
            await conn.execute(insert_ignoring_conflicts(conn, table), row)
