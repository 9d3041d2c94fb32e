"""Carries out an ingest plan with plain SQLAlchemy statements, row by row, ids as the database
gives them back: the writer SQLite uses, and the reference the batch writer must agree with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import Table, insert, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import RowsInsert, UpdateRows, update_rows
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
from timeline.event_log import record
from timeline.field_changes import record_changes
from timeline.identity_store import IdentityRow, identity_row
from timeline.ingest_plan import ConversationChange, IngestPlan
from timeline.models import Conversation, Customer, Identity, TimelineEvent
from timeline.thread_keys import key_rows

conversations = Conversation.__table__
customers = Customer.__table__
identities = Identity.__table__
timeline_events = TimelineEvent.__table__


async def write_plainly(
    conn: AsyncConnection,
    plan: IngestPlan,
    raw: RowsInsert,
    also: Sequence[UpdateRows],
    events_of: EventsOf,
) -> Written:
    """New customers and identities, conversations opened or counted, the customers' counters,
    `also` (the router's updates), the conversations' field history, the raw payloads, the
    events, their thread keys, the log's rows for `events_of`, consents."""
    now = datetime.now(UTC)
    written = Written()
    for sender in plan.new_senders:
        customer_id = await _insert(conn, customers, customer_row(sender, now))
        row = identity_row(sender.workspace_id, customer_id, sender.key, now)
        identity_id = await _insert(conn, identities, row)
        written.identities[id(sender)] = IdentityRow(identity_id, customer_id)
    for change in plan.conversations:
        if change.existing is None:
            row = conversation_row(change, written, now)
            written.conversations[id(change)] = await _insert(conn, conversations, row)
        else:
            await _count_on(conn, change.existing.id, change, now)
    for customer_id, brought in sorted(plan.earlier_customers.items()):
        await conn.execute(
            update(customers)
            .where(customers.c.id == customer_id)
            .values(
                events_count=customers.c.events_count + brought.events,
                last_seen_at=brought.last_seen_at,
            )
        )
    await update_rows(conn, *also)
    await record_changes(conn, field_changes(plan))
    await raw.insert(conn)
    for appended in plan.appended:
        event_id = await _insert(conn, timeline_events, event_row(appended, written))
        written.event_ids.append(event_id)
    await key_rows(key_owners(plan, written)).insert(conn)
    written.logged = await record(conn, events_of(written))
    await save_consents(conn, plan, written)
    return written


async def _insert(conn: AsyncConnection, table: Table, row: Mapping[str, object]) -> int:
    result = await conn.execute(insert(table).values(row).returning(table.c.id))
    return int(result.scalar_one())


async def _count_on(
    conn: AsyncConnection, conversation_id: int, change: ConversationChange, now: datetime
) -> None:
    """The batch's messages counted on a stored conversation; one reopened gets its agent."""
    values: dict[str, object] = {
        "messages_count": conversations.c.messages_count + change.messages,
        "updated_at": now,
        "last_message_at": change.last_message_at,
    }
    if change.waiting_since is not None:
        values["waiting_since"] = change.waiting_since
    status = new_status(change)
    if status is not None:
        values["status"] = status
    if change.reopened:
        values.update(resolved_at=None, assignee_id=change.assignee_id)
    await conn.execute(
        update(conversations).where(conversations.c.id == conversation_id).values(values)
    )
