"""The one pipeline that persists inbound events: dedupe, identity, conversation, append, route."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from timeline.delivery import record_receipts
from timeline.domain import (
    Assignment,
    DomainEvent,
    DomainEventPublisher,
    Router,
    RoutingRequest,
)
from timeline.events import (
    Attachment,
    ConsentChanged,
    InboundEvent,
    MessageReceived,
    MessageStatusChanged,
    RawPayload,
)
from timeline.identities import IdentityKey, lenient_key
from timeline.identity_store import IdentityRow, resolve_identities
from timeline.models import (
    Consent,
    Conversation,
    ConversationStatus,
    Customer,
    RawPayloadRecord,
    TimelineEvent,
)
from timeline.sql import insert_ignoring_conflicts, lock_keys
from timeline.threading import ConversationRow, find_conversation

log = logging.getLogger(__name__)

conversations = Conversation.__table__
timeline_events = TimelineEvent.__table__
customers = Customer.__table__


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What the pipeline needs to know about the channel account an event came through."""

    channel_account_id: int
    workspace_id: int
    default_country: str
    reopen_window: timedelta


@dataclass(frozen=True, slots=True)
class IngestRequest:
    """One provider payload and the events its adapter parsed from it."""

    channel: ChannelContext
    raw: RawPayload
    events: list[InboundEvent]


@dataclass(slots=True)
class IngestOutcome:
    """What a batch did: counts for callers, domain events to publish after commit."""

    appended: int = 0
    duplicates: int = 0
    receipts: int = 0
    event_ids: list[int] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    domain_events: list[DomainEvent] = field(default_factory=list)


@dataclass(slots=True)
class _ConversationChange:
    row: ConversationRow
    opened: bool = False
    reopened: bool = False
    messages: int = 0
    last_message_at: datetime | None = None
    waiting_since: datetime | None = None
    activates: bool = False


class IngestPipeline:
    """Persists inbound events in one transaction per batch, then publishes what happened."""

    def __init__(
        self, engine: AsyncEngine, router: Router, publisher: DomainEventPublisher
    ) -> None:
        self._engine = engine
        self._router = router
        self._publisher = publisher

    async def ingest(self, requests: list[IngestRequest]) -> IngestOutcome:
        async with self._engine.begin() as conn:
            outcome = await self.persist(conn, requests)
        if outcome.domain_events:
            await self._publisher.publish(outcome.domain_events)
        return outcome

    async def persist(self, conn: AsyncConnection, requests: list[IngestRequest]) -> IngestOutcome:
        """Everything the pipeline writes, inside the caller's transaction."""
        outcome = IngestOutcome()
        await _store_raw_payloads(conn, requests)
        pending = await _drop_duplicates(conn, requests, outcome)
        receipts = [(ctx, e) for ctx, e in pending if isinstance(e, MessageStatusChanged)]
        personal = [(ctx, e) for ctx, e in pending if not isinstance(e, MessageStatusChanged)]
        outcome.receipts = await record_receipts(
            conn, [(ctx.workspace_id, event) for ctx, event in receipts]
        )
        if personal:
            await self._persist_personal_events(conn, personal, outcome)
        return outcome

    async def _persist_personal_events(
        self,
        conn: AsyncConnection,
        pending: list[tuple[ChannelContext, InboundEvent]],
        outcome: IngestOutcome,
    ) -> None:
        keys = {(ctx.workspace_id, event): _identity_key(ctx, event) for ctx, event in pending}
        by_workspace: dict[int, set[IdentityKey]] = defaultdict(set)
        for (workspace_id, _), key in keys.items():
            by_workspace[workspace_id].add(key)
        await lock_keys(
            conn,
            "identity",
            (f"{ws}:{k.kind}:{k.value}" for ws, ks in by_workspace.items() for k in ks),
        )
        identities = {}
        for workspace_id, workspace_keys in by_workspace.items():
            found = await resolve_identities(conn, workspace_id, workspace_keys)
            identities.update({(workspace_id, k): v for k, v in found.items()})

        changes: dict[int, _ConversationChange] = {}
        rows: list[dict[str, object]] = []
        consents: list[dict[str, object]] = []
        customer_events: dict[int, tuple[int, datetime]] = {}
        for ctx, event in pending:
            identity = identities[(ctx.workspace_id, keys[(ctx.workspace_id, event)])]
            conversation_id: int | None = None
            if isinstance(event, MessageReceived):
                change = await _conversation_for(conn, ctx, identity, event, changes)
                conversation_id = change.row.id
                _count_message(change, event)
            elif isinstance(event, ConsentChanged):
                consents.append(_consent_row(ctx, identity.id, event))
            rows.append(_event_row(ctx, identity.customer_id, conversation_id, event))
            count, last = customer_events.get(identity.customer_id, (0, event.occurred_at))
            customer_events[identity.customer_id] = (count + 1, max(last, event.occurred_at))

        inserted = await conn.execute(
            timeline_events.insert().returning(timeline_events.c.id, sort_by_parameter_order=True),
            rows,
        )
        outcome.event_ids = [row.id for row in inserted]
        outcome.appended = len(outcome.event_ids)
        await _save_conversation_changes(conn, changes.values())
        await _bump_customers(conn, customer_events)
        await _save_consents(conn, consents)
        routing = [_routing_request(c) for c in changes.values() if _needs_agent(c)]
        if routing:
            outcome.assignments = await self._router.route(conn, routing)
        outcome.domain_events.extend(_domain_events(pending, changes, outcome))


def _identity_key(ctx: ChannelContext, event: InboundEvent) -> IdentityKey:
    return lenient_key(event.sender, ctx.default_country)


async def _store_raw_payloads(conn: AsyncConnection, requests: list[IngestRequest]) -> None:
    unique = {(r.channel.workspace_id, r.raw.digest): r for r in requests}
    await conn.execute(
        insert_ignoring_conflicts(conn, RawPayloadRecord.__table__),
        [
            {
                "workspace_id": workspace_id,
                "digest": digest,
                "content_type": request.raw.content_type,
                "body": request.raw.body,
                "received_at": datetime.now(UTC),
            }
            for (workspace_id, digest), request in unique.items()
        ],
    )


async def _drop_duplicates(
    conn: AsyncConnection, requests: list[IngestRequest], outcome: IngestOutcome
) -> list[tuple[ChannelContext, InboundEvent]]:
    """Keep each (channel account, external id) once: not seen before, not twice in the batch.

    Delivery receipts are not deduplicated here: replaying a status is harmless.
    """
    seen: set[tuple[int, str]] = set()
    candidates: list[tuple[ChannelContext, InboundEvent]] = []
    for request in requests:
        for event in request.events:
            if isinstance(event, MessageStatusChanged):
                candidates.append((request.channel, event))
                continue
            key = (event.channel_account_id, event.external_id)
            if key in seen:
                outcome.duplicates += 1
                continue
            seen.add(key)
            candidates.append((request.channel, event))
    if not seen:
        return candidates
    await lock_keys(conn, "event", (f"{a}:{x}" for a, x in seen))
    stored = await conn.execute(
        select(timeline_events.c.channel_account_id, timeline_events.c.external_id).where(
            tuple_(timeline_events.c.channel_account_id, timeline_events.c.external_id).in_(
                list(seen)
            )
        )
    )
    existing = {(row.channel_account_id, row.external_id) for row in stored}
    outcome.duplicates += len(existing)
    return [
        (ctx, e)
        for ctx, e in candidates
        if isinstance(e, MessageStatusChanged)
        or (e.channel_account_id, e.external_id) not in existing
    ]


async def _conversation_for(
    conn: AsyncConnection,
    ctx: ChannelContext,
    identity: IdentityRow,
    event: MessageReceived,
    changes: dict[int, _ConversationChange],
) -> _ConversationChange:
    """The conversation this message belongs to: an open one, a reopened one, or a new one."""
    for change in changes.values():
        same_thread = (
            change.row.identity_id == identity.id
            and change.row.channel_account_id == ctx.channel_account_id
        )
        if same_thread and (change.row.status != ConversationStatus.RESOLVED or change.reopened):
            return change
    row = await find_conversation(
        conn, ctx.workspace_id, identity.id, ctx.channel_account_id, event.thread_ref
    )
    if row is not None and row.status != ConversationStatus.RESOLVED:
        return changes.setdefault(row.id, _ConversationChange(row=row))
    if row is not None and (event.automated or _within(row.resolved_at, ctx.reopen_window, event)):
        change = changes.setdefault(row.id, _ConversationChange(row=row))
        change.reopened = change.reopened or not event.automated
        return change
    row = await _open_conversation(conn, ctx, identity, event)
    return changes.setdefault(row.id, _ConversationChange(row=row, opened=True))


def _within(resolved_at: datetime | None, window: timedelta, event: MessageReceived) -> bool:
    return resolved_at is not None and event.occurred_at - resolved_at <= window


async def _open_conversation(
    conn: AsyncConnection, ctx: ChannelContext, identity: IdentityRow, event: MessageReceived
) -> ConversationRow:
    now = datetime.now(UTC)
    result = await conn.execute(
        conversations.insert().returning(conversations.c.id),
        {
            "workspace_id": ctx.workspace_id,
            "customer_id": identity.customer_id,
            "identity_id": identity.id,
            "channel_account_id": ctx.channel_account_id,
            "status": ConversationStatus.OPEN,
            "subject": event.subject,
            "messages_count": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    return ConversationRow(
        id=result.scalar_one(),
        workspace_id=ctx.workspace_id,
        customer_id=identity.customer_id,
        identity_id=identity.id,
        channel_account_id=ctx.channel_account_id,
        status=ConversationStatus.OPEN,
        assignee_id=None,
        team_id=None,
        resolved_at=None,
        waiting_since=None,
    )


def _count_message(change: _ConversationChange, event: MessageReceived) -> None:
    change.messages += 1
    change.last_message_at = max(change.last_message_at or event.occurred_at, event.occurred_at)
    if event.automated:
        return
    change.activates = True
    if change.row.waiting_since is None:
        candidate = event.occurred_at
        change.waiting_since = min(change.waiting_since or candidate, candidate)


async def _save_conversation_changes(
    conn: AsyncConnection, changes: Iterable[_ConversationChange]
) -> None:
    now = datetime.now(UTC)
    for change in changes:
        values: dict[str, object] = {
            "messages_count": conversations.c.messages_count + change.messages,
            "updated_at": now,
        }
        if change.last_message_at is not None:
            values["last_message_at"] = change.last_message_at
        if change.waiting_since is not None:
            values["waiting_since"] = change.waiting_since
        if change.activates and change.row.status != ConversationStatus.OPEN:
            values["status"] = ConversationStatus.OPEN
        if change.reopened:
            values["resolved_at"] = None
            values["assignee_id"] = None
        await conn.execute(
            update(conversations).where(conversations.c.id == change.row.id).values(**values)
        )


async def _bump_customers(
    conn: AsyncConnection, customer_events: dict[int, tuple[int, datetime]]
) -> None:
    for customer_id, (count, last_seen) in customer_events.items():
        await conn.execute(
            update(customers)
            .where(customers.c.id == customer_id)
            .values(events_count=customers.c.events_count + count, last_seen_at=last_seen)
        )


async def _save_consents(conn: AsyncConnection, consents: list[dict[str, object]]) -> None:
    table = Consent.__table__
    for row in consents:
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


def _consent_row(ctx: ChannelContext, identity_id: int, event: ConsentChanged) -> dict[str, object]:
    return {
        "identity_id": identity_id,
        "channel_account_id": ctx.channel_account_id,
        "workspace_id": ctx.workspace_id,
        "granted": event.granted,
        "keyword": event.keyword,
        "changed_at": event.occurred_at,
    }


def _event_row(
    ctx: ChannelContext, customer_id: int, conversation_id: int | None, event: InboundEvent
) -> dict[str, object]:
    row: dict[str, object] = {
        "workspace_id": ctx.workspace_id,
        "customer_id": customer_id,
        "conversation_id": conversation_id,
        "channel_account_id": ctx.channel_account_id,
        "kind": _event_kind(event),
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
            attachments=[_attachment_json(a) for a in event.attachments],
            meta={
                "sender": event.sender.value,
                "automated": event.automated,
                "segments": event.segments,
                **dict(event.extra),
            },
        )
    elif isinstance(event, ConsentChanged):
        row["meta"] = {
            "sender": event.sender.value,
            "granted": event.granted,
            "keyword": event.keyword,
        }
    return row


def _event_kind(event: InboundEvent) -> str:
    name = type(event).__name__
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")


def _attachment_json(attachment: Attachment) -> dict[str, object]:
    return {k: v for k, v in asdict(attachment).items() if v is not None}


def _needs_agent(change: _ConversationChange) -> bool:
    return (change.opened or change.reopened) and change.activates


def _routing_request(change: _ConversationChange) -> RoutingRequest:
    return RoutingRequest(
        workspace_id=change.row.workspace_id,
        conversation_id=change.row.id,
        team_id=change.row.team_id,
        preferred_agent_id=change.row.assignee_id if change.reopened else None,
    )


def _domain_events(
    pending: list[tuple[ChannelContext, InboundEvent]],
    changes: dict[int, _ConversationChange],
    outcome: IngestOutcome,
) -> list[DomainEvent]:
    events: list[DomainEvent] = []
    for change in changes.values():
        kind = (
            "conversation.opened"
            if change.opened
            else "conversation.reopened"
            if change.reopened
            else None
        )
        if kind:
            events.append(
                DomainEvent(change.row.workspace_id, kind, {"conversation_id": change.row.id})
            )
    for (ctx, event), event_id in zip(pending, outcome.event_ids, strict=True):
        events.append(
            DomainEvent(
                ctx.workspace_id,
                "timeline.event_appended",
                {
                    "event_id": event_id,
                    "kind": _event_kind(event),
                    "channel_account_id": ctx.channel_account_id,
                },
            )
        )
    workspace_of = {c.row.id: c.row.workspace_id for c in changes.values()}
    for assignment in outcome.assignments:
        events.append(
            DomainEvent(
                workspace_of[assignment.conversation_id],
                "conversation.assigned",
                {"conversation_id": assignment.conversation_id, "agent_id": assignment.agent_id},
            )
        )
    return events
