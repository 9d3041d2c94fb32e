"""The one pipeline that persists inbound events: dedupe, identity, conversation, append, route."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import BigInteger, Boolean, Integer, String, case, func, null, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.bulk import (
    NewIds,
    RowsInsert,
    RowsUpdate,
    UpdateRows,
    insert_together,
    update_rows,
)
from storage.sql import (
    ConnectionLost,
    KeptConnection,
    fetch_together,
    in_list,
    insert_ignoring_conflicts,
    keyed_plans,
    lock_keys,
    write_transaction,
)
from timeline.blobs import store_attachments
from timeline.delivery import record_receipts
from timeline.domain import (
    Assignment,
    DomainEvent,
    DomainEventPublisher,
    LoggedEvent,
    Router,
    RoutingChoice,
    RoutingNeed,
    appended_data,
)
from timeline.event_log import record
from timeline.events import (
    ConsentChanged,
    EmailThreadRef,
    InboundEvent,
    MessageReceived,
    MessageStatusChanged,
    RawPayload,
    ThreadRef,
)
from timeline.identities import IdentityKey, lenient_key
from timeline.identity_store import (
    IDENTITIES_MATCHING,
    MATCHING,
    Activity,
    IdentityRow,
    matched,
    matching_parameters,
    new_customers,
)
from timeline.models import (
    Consent,
    Conversation,
    ConversationStatus,
    Customer,
    Identity,
    RawPayloadRecord,
    TimelineEvent,
    User,
)
from timeline.models.base import UtcDateTime
from timeline.models.conversations import new_reply_token
from timeline.storable import storable
from timeline.thread_keys import (
    ThreadKeyRow,
    conversations_by_key,
    conversations_by_subject_token,
    conversations_by_token,
    referenced_ids,
    remember,
    thread_json,
)
from timeline.threading import (
    ChannelHandle,
    ConversationRow,
    by_handle,
    conversations_by_id,
    newest_conversations,
)

log = logging.getLogger(__name__)

conversations = Conversation.__table__
timeline_events = TimelineEvent.__table__
customers = Customer.__table__
identities = Identity.__table__
users = User.__table__

# One list per column, not one of pairs: PostgreSQL plans a list of pairs slowly. The rows
# may pair an account with another account's id, so callers keep only the pairs they asked for.
_STORED_EVENTS = (
    select(timeline_events.c.channel_account_id, timeline_events.c.external_id)
    .where(in_list(timeline_events.c.external_id, "external_ids"))
    .where(in_list(timeline_events.c.channel_account_id, "accounts"))
)
_LOOK_UPS = (_STORED_EVENTS, IDENTITIES_MATCHING, newest_conversations(select(MATCHING.c.id)))
"""Fetched together: what is stored of a batch's events, its senders' identities, and their
threads' newest conversations (parameters `accounts`, `external_ids` and `matching_parameters`)."""
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
    logged: list[LoggedEvent] = field(default_factory=list)
    """The domain events as logged in the batch's transaction: what to publish after commit."""


@dataclass(slots=True)
class _ConversationChange:
    row: ConversationRow
    opened: bool = False
    subject: str | None = None
    reopened: bool = False
    messages: int = 0
    last_message_at: datetime | None = None
    waiting_since: datetime | None = None
    activates: bool = False
    assignee_id: int | None = None
    """The agent routing chose, if it was asked (a conversation opened or reopened)."""


class IngestPipeline:
    """Persists inbound events in one transaction per batch, then publishes what happened."""

    def __init__(
        self, engine: AsyncEngine, router: Router, publisher: DomainEventPublisher
    ) -> None:
        self._engine = engine
        self._router = router
        self._publisher = publisher

    async def ingest(self, requests: list[IngestRequest]) -> IngestOutcome:
        outcome = await self.commit(requests)
        await self.publish(outcome.logged)
        return outcome

    def kept_connection(self) -> KeptConnection:
        """A connection for one caller's commits, one after another (`commit(via=...)`)."""
        return KeptConnection(self._engine)

    async def commit(
        self, requests: list[IngestRequest], *, via: KeptConnection | None = None
    ) -> IngestOutcome:
        """Persist in a transaction of its own; the caller publishes the outcome's events.

        The transaction is `storage.sql.write_transaction`'s, which takes the batch's locks
        as it begins. A connection the database dropped (a restart, say) fails that opening;
        the batch is then run once more on a fresh connection. Even a commit lost in flight is
        safe to repeat: the pipeline is idempotent on the providers' ids.
        """
        source = via or self._engine
        try:
            return await self._commit_once(source, requests)
        except ConnectionLost as error:
            log.warning("database connection lost (%s); retrying the batch once", error)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            log.warning("database connection lost (%s); retrying the batch once", error.orig)
        return await self._commit_once(source, requests)

    async def _commit_once(
        self, source: AsyncEngine | KeptConnection, requests: list[IngestRequest]
    ) -> IngestOutcome:
        batch = _Batch.of(requests)
        if any(_is_forward(event) for _, event in batch.candidates):
            async with write_transaction(source) as conn:  # forwarders looked up inside
                return await _logged(conn, await self._persist(conn, batch))
        async with write_transaction(source, locks=batch.locks()) as conn:
            return await _logged(conn, await self._write(conn, batch))

    async def publish(self, events: list[LoggedEvent]) -> None:
        """Hand what a committed batch did (its logged domain events) to listeners and the
        stream."""
        if events:
            await self._publisher.publish(events)

    async def persist(self, conn: AsyncConnection, requests: list[IngestRequest]) -> IngestOutcome:
        """Everything the pipeline writes, its domain events logged last, inside the caller's
        transaction (which may go on, briefly: until it ends, other writers of the log wait)."""
        async with keyed_plans(conn):
            return await _logged(conn, await self._persist(conn, _Batch.of(requests)))

    async def _persist(self, conn: AsyncConnection, batch: _Batch) -> IngestOutcome:
        batch = await _file_forwards_under_their_author(conn, batch)
        await lock_keys(conn, batch.locks())
        return await self._write(conn, batch)

    async def _write(self, conn: AsyncConnection, batch: _Batch) -> IngestOutcome:
        """The batch's writes, its locks held, planned as storage.sql.KEYED_PLANS says.

        Lookups and updates come first; the updates' statement also draws the new rows' ids, so
        that one last statement inserts customers, identities, conversations, payloads and events
        together. A batch of texts takes three round trips between BEGIN and COMMIT (the lookups,
        the updates, the insert), and routing's reads when it opens or reopens a conversation.
        """
        outcome = batch.outcome
        known = await _look_up(conn, batch.candidates, batch.keys)
        pending = [
            (ctx, event, key)
            for (ctx, event), key in zip(batch.candidates, batch.keys, strict=True)
            if (event.channel_account_id, event.external_id) not in known.stored
        ]
        outcome.duplicates += len(batch.candidates) - len(pending)
        outcome.receipts = await record_receipts(
            conn, [(ctx.workspace_id, event) for ctx, event in batch.receipts]
        )
        raw = RowsInsert(
            RawPayloadRecord.__table__, _raw_payload_rows(batch.requests), ignore_conflicts=True
        )
        if not pending:
            await insert_together(conn, raw)
            return outcome
        placed = _place(pending, known)
        routed = [change for change in placed.changes if _needs_agent(change)]
        choice = (
            await self._router.choose(conn, [_routing_need(c) for c in routed])
            if routed
            else RoutingChoice([], [])
        )
        for change, agent_id in zip(routed, choice.agents, strict=True):
            change.assignee_id = agent_id
        opened = [change for change in placed.changes if change.opened]
        customer_ids, identity_ids, conversation_ids, event_ids = await update_rows(
            conn,
            _conversation_updates([change for change in placed.changes if not change.opened]),
            _customer_bumps(placed.earlier_customers),
            *choice.writes,
            drawing=[
                NewIds(customers, len(placed.new)),
                NewIds(identities, len(placed.new)),
                NewIds(conversations, len(opened)),
                NewIds(timeline_events, len(placed.resolved)),
            ],
        )
        created = new_customers(placed.new, customer_ids, identity_ids)
        placed.settle(created.created, opened, conversation_ids)
        await insert_together(
            conn,
            created.customers,
            created.identities,
            RowsInsert(conversations, _conversation_rows(opened)),
            raw,
            RowsInsert(
                timeline_events,
                [
                    _event_row(event_id, ctx, identity.customer_id, change, event)
                    for event_id, (ctx, event, identity), change in zip(
                        event_ids, placed.resolved, placed.placed, strict=True
                    )
                ],
            ),
        )
        outcome.event_ids = event_ids
        outcome.appended = len(event_ids)
        appended = [(ctx, event) for ctx, event, _ in placed.resolved]
        await store_attachments(conn, [(c.workspace_id, e) for c, e in appended], event_ids)
        await remember(conn, _thread_keys(placed.resolved, placed.placed))
        await _save_consents(conn, [_consent_row(*each) for each in placed.consents])
        outcome.assignments = [
            Assignment(change.row.id, change.assignee_id)
            for change in routed
            if change.assignee_id is not None
        ]
        outcome.domain_events.extend(
            _domain_events(appended, placed.placed, placed.changes, outcome)
        )
        return outcome


async def _logged(conn: AsyncConnection, outcome: IngestOutcome) -> IngestOutcome:
    """The outcome, its domain events logged in its transaction (one insert, the last write)."""
    outcome.logged = await record(conn, outcome.domain_events)
    return outcome


@dataclass(slots=True)
class _Placed:
    """A batch's new events placed: the sender of each (a new identity has provisional ids, below
    zero, until `settle`), the conversation each message lands in, and the consents given."""

    resolved: list[tuple[ChannelContext, InboundEvent, IdentityRow]]
    placed: list[_ConversationChange | None]
    changes: list[_ConversationChange]
    consents: list[tuple[ChannelContext, IdentityRow, ConsentChanged]]
    new: dict[tuple[int, IdentityKey], Activity]
    """Identities never seen before: each gets a customer, counting what the batch brings."""
    provisional: dict[tuple[int, IdentityKey], IdentityRow]
    earlier_customers: dict[int, Activity]
    """What the batch brings customers that existed before."""

    def settle(
        self,
        created: dict[tuple[int, IdentityKey], IdentityRow],
        opened: list[_ConversationChange],
        opened_ids: list[int],
    ) -> None:
        """Put the drawn ids in place of the provisional ones: the new identities' and
        customers', and the ids of the conversations `opened`."""
        real = {self.provisional[pair].id: row for pair, row in created.items()}

        def identity(row: IdentityRow) -> IdentityRow:
            return real[row.id] if row.id < 0 else row

        self.resolved = [(ctx, event, identity(row)) for ctx, event, row in self.resolved]
        self.consents = [(ctx, identity(row), event) for ctx, row, event in self.consents]
        for change, conversation_id in zip(opened, opened_ids, strict=True):
            sender = identity(IdentityRow(change.row.identity_id, change.row.customer_id))
            change.row = replace(
                change.row,
                id=conversation_id,
                identity_id=sender.id,
                customer_id=sender.customer_id,
            )


def _place(
    pending: list[tuple[ChannelContext, InboundEvent, IdentityKey]], known: _Known
) -> _Placed:
    """Resolve each sender and thread each message, as if the events arrived one by one."""
    activity = _activity(pending)
    new = {pair: brought for pair, brought in activity.items() if pair not in known.identities}
    provisional = {pair: IdentityRow(-number, -number) for number, pair in enumerate(new, start=1)}
    senders = {**known.identities, **provisional}
    threads = _Threads(known)
    resolved: list[tuple[ChannelContext, InboundEvent, IdentityRow]] = []
    placed: list[_ConversationChange | None] = []
    consents: list[tuple[ChannelContext, IdentityRow, ConsentChanged]] = []
    for ctx, event, key in pending:
        identity = senders[(ctx.workspace_id, key)]
        change: _ConversationChange | None = None
        if isinstance(event, MessageReceived):
            change = threads.conversation_for(ctx, identity, event)
            _count_message(change, event)
        elif isinstance(event, ConsentChanged):
            consents.append((ctx, identity, event))
        resolved.append((ctx, event, identity))
        placed.append(change)
    return _Placed(
        resolved=resolved,
        placed=placed,
        changes=threads.changes,
        consents=consents,
        new=new,
        provisional=provisional,
        earlier_customers=_by_customer(activity, known.identities),
    )


def _activity(
    pending: list[tuple[ChannelContext, InboundEvent, IdentityKey]],
) -> dict[tuple[int, IdentityKey], Activity]:
    """Per (workspace, identity): how many of the batch's events it sent, and the newest."""
    activity: dict[tuple[int, IdentityKey], Activity] = {}
    for ctx, event, key in pending:
        earlier = activity.get((ctx.workspace_id, key))
        activity[(ctx.workspace_id, key)] = _plus(earlier, Activity(1, event.occurred_at))
    return activity


def _by_customer(
    activity: dict[tuple[int, IdentityKey], Activity],
    identities: dict[tuple[int, IdentityKey], IdentityRow],
) -> dict[int, Activity]:
    """The activity of identities that existed before, summed per customer."""
    totals: dict[int, Activity] = {}
    for pair, brought in activity.items():
        identity = identities.get(pair)
        if identity is not None:
            totals[identity.customer_id] = _plus(totals.get(identity.customer_id), brought)
    return totals


def _plus(earlier: Activity | None, more: Activity) -> Activity:
    if earlier is None:
        return more
    return Activity(earlier.events + more.events, max(earlier.last_seen_at, more.last_seen_at))


def _thread_keys(
    resolved: list[tuple[ChannelContext, InboundEvent, IdentityRow]],
    placed: list[_ConversationChange | None],
) -> list[ThreadKeyRow]:
    """The message ids replies may name, with the conversation each one landed in."""
    rows = []
    for (ctx, event, _), change in zip(resolved, placed, strict=True):
        ref = event.thread_ref
        if change is not None and isinstance(ref, EmailThreadRef) and ref.message_id:
            key = ThreadKeyRow(
                ctx.workspace_id, ctx.channel_account_id, ref.message_id, change.row.id
            )
            rows.append(key)
    return rows


def _is_forward(event: InboundEvent) -> bool:
    return isinstance(event, MessageReceived) and event.forwarded_from is not None


async def _file_forwards_under_their_author(conn: AsyncConnection, batch: _Batch) -> _Batch:
    """A colleague forwarding a customer's message: the customer is the sender that counts."""
    forwards = {
        (ctx.workspace_id, event.sender.value.lower())
        for ctx, event in batch.candidates
        if _is_forward(event)
    }
    if not forwards:
        return batch
    rows = await conn.execute(
        select(users.c.workspace_id, users.c.email)
        .where(users.c.workspace_id.in_({w for w, _ in forwards}))
        .where(users.c.email.in_({e for _, e in forwards}))
    )
    colleagues = {(row.workspace_id, row.email) for row in rows}
    candidates = [
        (ctx, replace(event, sender=event.forwarded_from))
        if isinstance(event, MessageReceived)
        and event.forwarded_from is not None
        and (ctx.workspace_id, event.sender.value.lower()) in colleagues
        else (ctx, event)
        for ctx, event in batch.candidates
    ]
    return _Batch.holding(batch.requests, batch.outcome, batch.receipts, candidates)


def _identity_key(ctx: ChannelContext, event: InboundEvent) -> IdentityKey:
    return lenient_key(event.sender, ctx.default_country)


def _raw_payload_rows(requests: list[IngestRequest]) -> list[dict[str, object]]:
    """Each distinct payload once per workspace (a redelivery is stored once, by digest)."""
    unique = {(r.channel.workspace_id, r.raw.digest): r for r in requests}
    now = datetime.now(UTC)
    return [
        {
            "workspace_id": workspace_id,
            "digest": digest,
            "content_type": request.raw.content_type,
            "body": request.raw.body,
            "received_at": now,
        }
        for (workspace_id, digest), request in unique.items()
    ]


@dataclass(frozen=True, slots=True)
class _Batch:
    """A batch's events once deduplicated: delivery receipts, and the events to store with the
    identity key of each one's sender."""

    requests: list[IngestRequest]
    outcome: IngestOutcome
    receipts: list[tuple[ChannelContext, MessageStatusChanged]]
    candidates: list[tuple[ChannelContext, InboundEvent]]
    keys: list[IdentityKey]

    @classmethod
    def of(cls, requests: list[IngestRequest]) -> _Batch:
        outcome = IngestOutcome()
        receipts, candidates = _unique_events(requests, outcome)
        return cls.holding(requests, outcome, receipts, candidates)

    @classmethod
    def holding(
        cls,
        requests: list[IngestRequest],
        outcome: IngestOutcome,
        receipts: list[tuple[ChannelContext, MessageStatusChanged]],
        candidates: list[tuple[ChannelContext, InboundEvent]],
    ) -> _Batch:
        keys = [_identity_key(ctx, event) for ctx, event in candidates]
        return cls(requests, outcome, receipts, candidates, keys)

    def locks(self) -> list[tuple[str, str]]:
        """What concurrent batches must not write at once: the events and their senders."""
        return [
            *(("event", f"{e.channel_account_id}:{e.external_id}") for _, e in self.candidates),
            *(
                ("identity", f"{c.workspace_id}:{k.kind}:{k.value}")
                for (c, _), k in zip(self.candidates, self.keys, strict=True)
            ),
        ]


def _unique_events(
    requests: list[IngestRequest], outcome: IngestOutcome
) -> tuple[
    list[tuple[ChannelContext, MessageStatusChanged]], list[tuple[ChannelContext, InboundEvent]]
]:
    """The batch's delivery receipts, and its other events once per (channel account, external id),
    each made storable (timeline.storable: no NUL in its text, keys that fit).

    Delivery receipts are deduplicated where they are stored (timeline.delivery).
    """
    seen: set[tuple[int, str]] = set()
    receipts: list[tuple[ChannelContext, MessageStatusChanged]] = []
    candidates: list[tuple[ChannelContext, InboundEvent]] = []
    for request in requests:
        for parsed in request.events:
            event = storable(parsed)
            if isinstance(event, MessageStatusChanged):
                receipts.append((request.channel, event))
                continue
            key = (event.channel_account_id, event.external_id)
            if key in seen:
                outcome.duplicates += 1
                continue
            seen.add(key)
            candidates.append((request.channel, event))
    return receipts, candidates


@dataclass(frozen=True, slots=True)
class _Known:
    """What the database already holds for a batch's events."""

    stored: set[tuple[int, str]] = field(default_factory=set)
    identities: dict[tuple[int, IdentityKey], IdentityRow] = field(default_factory=dict)
    conversations: dict[ChannelHandle, ConversationRow] = field(default_factory=dict)
    referenced: dict[tuple[int, str], ConversationRow] = field(default_factory=dict)
    """(channel account, message id) -> the conversation holding that message."""
    by_token: dict[tuple[int, str], ConversationRow] = field(default_factory=dict)
    """(workspace, reply token) -> its conversation."""
    by_subject_token: dict[tuple[int, str], ConversationRow] = field(default_factory=dict)
    """(channel account, subject token) -> its conversation."""


async def _look_up(
    conn: AsyncConnection,
    candidates: list[tuple[ChannelContext, InboundEvent]],
    keys: list[IdentityKey],
) -> _Known:
    """Events already stored, known identities, and their newest conversations (locked).

    The caller holds the events' and identities' locks, so none of this changes before commit.
    """
    if not candidates:
        return _Known()
    events = {(e.channel_account_id, e.external_id) for _, e in candidates}
    senders = {(ctx.workspace_id, key) for (ctx, _), key in zip(candidates, keys, strict=True)}
    stored, identity_rows, conversation_rows = await fetch_together(
        conn,
        _LOOK_UPS,
        {
            "accounts": list({account for account, _ in events}),
            "external_ids": [external_id for _, external_id in events],
            **matching_parameters(senders),
        },
    )
    known = _Known(
        stored={(account, external_id) for account, external_id in stored} & events,
        identities=matched(identity_rows, senders),
    )
    handles = {
        _handle(ctx, known.identities[(ctx.workspace_id, key)])
        for (ctx, event), key in zip(candidates, keys, strict=True)
        if isinstance(event, MessageReceived) and (ctx.workspace_id, key) in known.identities
    }
    known.conversations.update(by_handle(conversation_rows, handles))
    await _look_up_references(conn, candidates, known)
    return known


async def _look_up_references(
    conn: AsyncConnection, candidates: list[tuple[ChannelContext, InboundEvent]], known: _Known
) -> None:
    """Conversations that the batch's mails name by message id, reply or subject token."""
    keys: set[tuple[int, str]] = set()
    tokens: set[tuple[int, str]] = set()
    subject_tokens: set[tuple[int, str]] = set()
    for ctx, event in candidates:
        ref = event.thread_ref
        if isinstance(event, MessageReceived) and isinstance(ref, EmailThreadRef):
            keys.update((ctx.channel_account_id, key) for key in referenced_ids(ref))
            if ref.reply_token:
                tokens.add((ctx.workspace_id, ref.reply_token))
            if ref.subject_token:
                subject_tokens.add((ctx.channel_account_id, ref.subject_token))
    by_key = await conversations_by_key(conn, keys)
    by_token = await conversations_by_token(conn, tokens)
    by_subject = await conversations_by_subject_token(conn, subject_tokens)
    found = {*by_key.values(), *by_token.values(), *by_subject.values()}
    rows = await conversations_by_id(conn, found)
    known.referenced.update({pair: rows[cid] for pair, cid in by_key.items() if cid in rows})
    known.by_token.update({pair: rows[cid] for pair, cid in by_token.items() if cid in rows})
    known.by_subject_token.update({p: rows[cid] for p, cid in by_subject.items() if cid in rows})


def _handle(ctx: ChannelContext, identity: IdentityRow) -> ChannelHandle:
    return ChannelHandle(ctx.workspace_id, identity.id, ctx.channel_account_id)


class _Threads:
    """Places a batch's messages in conversations, as if they arrived one after another.

    Starts from each thread's newest stored conversation; conversations it opens get their ids
    from `_open_conversations` before anything refers to them.
    """

    def __init__(self, known: _Known) -> None:
        self._newest = known.conversations
        self._known = known
        self._touched: dict[ChannelHandle, list[_ConversationChange]] = defaultdict(list)
        self._batch_keys: dict[tuple[int, str], ConversationRow] = {}
        self.changes: list[_ConversationChange] = []

    def conversation_for(
        self, ctx: ChannelContext, identity: IdentityRow, event: MessageReceived
    ) -> _ConversationChange:
        """The conversation this message belongs to: an open one, a reopened one, or a new one."""
        if isinstance(event.thread_ref, EmailThreadRef):
            return self._by_reference(ctx, identity, event, event.thread_ref)
        key = _handle(ctx, identity)
        touched = self._touched[key]
        for change in touched:
            if change.row.status != ConversationStatus.RESOLVED or change.reopened:
                return change
        return self._continue(ctx, event, self._newest.get(key)) or self._open(ctx, identity, event)

    def _by_reference(
        self,
        ctx: ChannelContext,
        identity: IdentityRow,
        event: MessageReceived,
        ref: EmailThreadRef,
    ) -> _ConversationChange:
        """Mail threads by what it names (message ids, reply token), never by its sender alone:
        a new subject with no references is a new conversation (docs/channels/email.md)."""
        row = self._referenced(ctx, ref)
        change = self._continue(ctx, event, row) or self._open(ctx, identity, event)
        if ref.message_id:
            self._batch_keys[(ctx.channel_account_id, ref.message_id)] = change.row
        return change

    def _referenced(self, ctx: ChannelContext, ref: EmailThreadRef) -> ConversationRow | None:
        for message_id in referenced_ids(ref):
            pair = (ctx.channel_account_id, message_id)
            row = self._batch_keys.get(pair) or self._known.referenced.get(pair)
            if row is not None:
                return row
        if ref.reply_token and (ctx.workspace_id, ref.reply_token) in self._known.by_token:
            return self._known.by_token[(ctx.workspace_id, ref.reply_token)]
        if ref.subject_token:
            return self._known.by_subject_token.get((ctx.channel_account_id, ref.subject_token))
        return None

    def _continue(
        self, ctx: ChannelContext, event: MessageReceived, row: ConversationRow | None
    ) -> _ConversationChange | None:
        """The change to an existing conversation this message continues, if it may."""
        if row is None:
            return None
        key = ChannelHandle(row.workspace_id, row.identity_id, row.channel_account_id)
        if row.status != ConversationStatus.RESOLVED:
            return self._change(key, row)
        if event.automated or _within(row.resolved_at, ctx.reopen_window, event):
            change = self._change(key, row)
            change.reopened = change.reopened or not event.automated
            return change
        return None

    def _open(
        self, ctx: ChannelContext, identity: IdentityRow, event: MessageReceived
    ) -> _ConversationChange:
        key = _handle(ctx, identity)
        change = _ConversationChange(
            row=_unsaved_conversation(ctx, identity), opened=True, subject=event.subject
        )
        self._newest[key] = change.row
        self._track(key, change)
        return change

    def _change(self, key: ChannelHandle, row: ConversationRow) -> _ConversationChange:
        change = next((c for c in self._touched[key] if c.row is row), None)
        if change is None:
            change = _ConversationChange(row=row)
            self._track(key, change)
        return change

    def _track(self, key: ChannelHandle, change: _ConversationChange) -> None:
        self._touched[key].append(change)
        self.changes.append(change)


def _within(resolved_at: datetime | None, window: timedelta, event: MessageReceived) -> bool:
    return resolved_at is not None and event.occurred_at - resolved_at <= window


def _unsaved_conversation(ctx: ChannelContext, identity: IdentityRow) -> ConversationRow:
    """A conversation to open; its id (0 until then) is drawn by the batch's updates."""
    return ConversationRow(
        id=0,
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


def _conversation_rows(opened: list[_ConversationChange]) -> list[dict[str, object]]:
    """The batch's new conversations, in the order they were opened, ids drawn.

    They start with the batch's messages already counted and their agent assigned (see
    `new_customers` for why a new row is not updated).
    """
    now = datetime.now(UTC)
    return [
        {
            "id": change.row.id,
            "workspace_id": change.row.workspace_id,
            "customer_id": change.row.customer_id,
            "identity_id": change.row.identity_id,
            "channel_account_id": change.row.channel_account_id,
            "status": ConversationStatus.OPEN,
            "subject": change.subject,
            "reply_token": new_reply_token(),
            "assignee_id": change.assignee_id,
            "messages_count": change.messages,
            "last_message_at": change.last_message_at,
            "waiting_since": change.waiting_since,
            "created_at": now,
            "updated_at": now,
        }
        for change in opened
    ]


def _count_message(change: _ConversationChange, event: MessageReceived) -> None:
    change.messages += 1
    change.last_message_at = max(change.last_message_at or event.occurred_at, event.occurred_at)
    if event.automated:
        return
    change.activates = True
    if change.row.waiting_since is None:
        candidate = event.occurred_at
        change.waiting_since = min(change.waiting_since or candidate, candidate)


def _conversation_updates(changes: list[_ConversationChange]) -> UpdateRows:
    """Count the batch's messages on the conversations that existed before (and assign those
    reopened), in id order (so batches never deadlock)."""
    now = datetime.now(UTC)
    return UpdateRows(
        _UPDATE_CONVERSATIONS,
        [
            {
                "conversation_id": change.row.id,
                "messages": change.messages,
                "now": now,
                "last_message": change.last_message_at,
                "new_waiting_since": change.waiting_since,
                "new_status": ConversationStatus.OPEN
                if change.activates and change.row.status != ConversationStatus.OPEN
                else None,
                "reopened": change.reopened,
                "assignee": change.assignee_id,
            }
            for change in sorted(changes, key=lambda c: c.row.id)
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


def _consent_row(
    ctx: ChannelContext, identity: IdentityRow, event: ConsentChanged
) -> dict[str, object]:
    return {
        "identity_id": identity.id,
        "channel_account_id": ctx.channel_account_id,
        "workspace_id": ctx.workspace_id,
        "granted": event.granted,
        "keyword": event.keyword,
        "changed_at": event.occurred_at,
    }


def _event_row(
    event_id: int,
    ctx: ChannelContext,
    customer_id: int,
    change: _ConversationChange | None,
    event: InboundEvent,
) -> dict[str, object]:
    row: dict[str, object] = {
        "id": event_id,
        "workspace_id": ctx.workspace_id,
        "customer_id": customer_id,
        "conversation_id": change.row.id if change else None,
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
            attachments=[a.metadata() for a in event.attachments],
            meta={
                "sender": event.sender.value,
                "automated": event.automated,
                "segments": event.segments,
                **dict(event.extra),
                **_thread_meta(event.thread_ref),
                **({"html": event.html} if event.html else {}),
                **({"quoted": event.quoted} if event.quoted else {}),
                **({"quoted_html": event.quoted_html} if event.quoted_html else {}),
            },
        )
    elif isinstance(event, ConsentChanged):
        row["meta"] = {
            "sender": event.sender.value,
            "granted": event.granted,
            "keyword": event.keyword,
        }
    return row


def _thread_meta(ref: ThreadRef | None) -> dict[str, object]:
    """The thread headers replies must carry, kept on the event they answer."""
    if not isinstance(ref, EmailThreadRef):
        return {}
    return {"thread": thread_json(ref)}


def _event_kind(event: InboundEvent) -> str:
    return _kind_of(type(event))


@cache
def _kind_of(event_type: type[InboundEvent]) -> str:
    name = event_type.__name__
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")


def _automated(event: InboundEvent) -> bool:
    return isinstance(event, MessageReceived) and event.automated


def _needs_agent(change: _ConversationChange) -> bool:
    return (change.opened or change.reopened) and change.activates


def _routing_need(change: _ConversationChange) -> RoutingNeed:
    return RoutingNeed(
        workspace_id=change.row.workspace_id,
        team_id=change.row.team_id,
        preferred_agent_id=change.row.assignee_id if change.reopened else None,
    )


def _domain_events(
    pending: list[tuple[ChannelContext, InboundEvent]],
    placed: list[_ConversationChange | None],
    changes: list[_ConversationChange],
    outcome: IngestOutcome,
) -> list[DomainEvent]:
    events: list[DomainEvent] = []
    for change in changes:
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
    for (ctx, event), change, event_id in zip(pending, placed, outcome.event_ids, strict=True):
        events.append(
            DomainEvent(
                ctx.workspace_id,
                "timeline.event_appended",
                appended_data(
                    event_id,
                    _event_kind(event),
                    change.row.id if change else None,
                    event.occurred_at,
                    channel_account_id=ctx.channel_account_id,
                    **({"automated": True} if _automated(event) else {}),
                ),
            )
        )
    workspace_of = {c.row.id: c.row.workspace_id for c in changes}
    for assignment in outcome.assignments:
        events.append(
            DomainEvent(
                workspace_of[assignment.conversation_id],
                "conversation.assigned",
                {"conversation_id": assignment.conversation_id, "agent_id": assignment.agent_id},
            )
        )
    return events
