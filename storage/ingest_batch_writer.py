"""Carries out an ingest plan on PostgreSQL in two statements: every update (which also draws the
ids of the rows to insert), then every insert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Boolean, Integer, String, case, func, null
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import NewIds, RowsInsert, RowsUpdate, UpdateRows, insert_together, update_rows
from storage.ingest_rows import (
    EventsOf,
    Written,
    conversation_row,
    customer_row,
    event_row,
    field_changes,
    key_owners,
    new_status,
    save_consents,
)
from timeline.event_log import as_logged, log_rows
from timeline.field_changes import change_rows
from timeline.identity_store import Activity, IdentityRow, identity_row
from timeline.ingest_plan import IngestPlan
from timeline.models import Conversation, Customer, FieldChange, Identity, TimelineEvent
from timeline.models.base import UtcDateTime
from timeline.thread_keys import key_rows

conversations = Conversation.__table__
customers = Customer.__table__
identities = Identity.__table__
timeline_events = TimelineEvent.__table__
history = FieldChange.__table__

_UPDATE_CONVERSATIONS = RowsUpdate(
    conversations,
    column="id",
    key="conversation_id",
    types={
        "conversation_id": BigInteger(),
        "messages": Integer(),
        "now": UtcDateTime(),
        "last_message": UtcDateTime(),
        "new_waiting_since": UtcDateTime(),
        "new_status": String(),
        "reopened": Boolean(),
        "assignee": BigInteger(),
    },
    values=lambda p: {
        "messages_count": conversations.c.messages_count + p.messages,
        "updated_at": p.now,
        "last_message_at": p.last_message,
        "waiting_since": func.coalesce(p.new_waiting_since, conversations.c.waiting_since),
        "status": func.coalesce(p.new_status, conversations.c.status),
        "resolved_at": case((p.reopened, null()), else_=conversations.c.resolved_at),
        "assignee_id": case((p.reopened, p.assignee), else_=conversations.c.assignee_id),
    },
)
_BUMP_CUSTOMERS = RowsUpdate(
    customers,
    column="id",
    key="customer_id",
    types={"customer_id": BigInteger(), "events": Integer(), "last_seen": UtcDateTime()},
    values=lambda p: {
        "events_count": customers.c.events_count + p.events,
        "last_seen_at": p.last_seen,
    },
)


async def write_batch(
    conn: AsyncConnection,
    plan: IngestPlan,
    raw: RowsInsert,
    also: Sequence[UpdateRows],
    events_of: EventsOf,
) -> Written:
    """The plan's updates and `also` (the router's) in one statement that draws the new rows'
    ids, then its inserts with `raw`, the conversations' field history and the log's rows for
    `events_of` in one more; the consents after them.

    New rows are inserted with what the batch brings them already counted, never updated
    after: updating a row in the transaction that inserted it checks its foreign keys again.
    """
    opened = [change for change in plan.conversations if change.opened]
    customer_ids, identity_ids, conversation_ids, event_ids = await update_rows(
        conn,
        _conversation_updates(plan),
        _customer_bumps(plan.earlier_customers),
        *also,
        drawing=[
            NewIds(customers, len(plan.new_senders)),
            NewIds(identities, len(plan.new_senders)),
            NewIds(conversations, len(opened)),
            NewIds(timeline_events, len(plan.appended)),
        ],
    )
    senders = list(zip(plan.new_senders, customer_ids, identity_ids, strict=True))
    written = Written(
        identities={
            id(sender): IdentityRow(identity_id, customer_id)
            for sender, customer_id, identity_id in senders
        },
        conversations={
            id(change): conversation_id
            for change, conversation_id in zip(opened, conversation_ids, strict=True)
        },
        event_ids=event_ids,
    )
    now = datetime.now(UTC)
    events = events_of(written)
    logged_ids = await insert_together(
        conn,
        RowsInsert(
            customers,
            [
                {"id": customer_id, **customer_row(sender, now)}
                for sender, customer_id, _ in senders
            ],
        ),
        RowsInsert(
            identities,
            [
                {
                    "id": identity_id,
                    **identity_row(sender.workspace_id, customer_id, sender.key, now),
                }
                for sender, customer_id, identity_id in senders
            ],
        ),
        RowsInsert(
            conversations,
            [
                {"id": written.conversation_id(change), **conversation_row(change, written, now)}
                for change in opened
            ],
        ),
        raw,
        RowsInsert(
            timeline_events,
            [
                {"id": event_id, **event_row(appended, written)}
                for event_id, appended in zip(event_ids, plan.appended, strict=True)
            ],
        ),
        key_rows(key_owners(plan, written)),
        RowsInsert(history, change_rows(field_changes(plan), now)),
        appending=log_rows(events, now),
    )
    written.logged = as_logged(events, logged_ids, now)
    await save_consents(conn, plan, written)
    return written


def _conversation_updates(plan: IngestPlan) -> UpdateRows:
    """Count the batch's messages on the conversations that existed before (and assign those
    reopened), in id order (so batches never deadlock)."""
    now = datetime.now(UTC)
    stored = [(change.existing, change) for change in plan.conversations if change.existing]
    return UpdateRows(
        _UPDATE_CONVERSATIONS,
        [
            {
                "conversation_id": row.id,
                "messages": change.messages,
                "now": now,
                "last_message": change.last_message_at,
                "new_waiting_since": change.waiting_since,
                "new_status": new_status(change),
                "reopened": change.reopened,
                "assignee": change.assignee_id,
            }
            for row, change in sorted(stored, key=lambda pair: pair[0].id)
        ],
    )


def _customer_bumps(activity: dict[int, Activity]) -> UpdateRows:
    """Count the batch's events on their customers, in id order."""
    return UpdateRows(
        _BUMP_CUSTOMERS,
        [
            {"customer_id": customer_id, "events": a.events, "last_seen": a.last_seen_at}
            for customer_id, a in sorted(activity.items())
        ],
    )
