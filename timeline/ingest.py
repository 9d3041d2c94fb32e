"""The one pipeline that persists inbound events: dedupe, identity, conversation, append, route.

It reads what the batch needs, has timeline.ingest_plan decide what the batch does, asks the
router for agents, and hands the plan to a writer in storage/ (the batch writer on PostgreSQL,
the plain one elsewhere)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.bulk import RowsInsert, UpdateRows, insert_together
from storage.ingest_batch_writer import write_batch
from storage.ingest_plain_writer import write_plainly
from storage.ingest_rows import Written, owned
from storage.routing_writes import choice_updates
from storage.sql import (
    ConnectionLost,
    KeptConnection,
    fetch_together,
    in_list,
    is_postgres,
    keyed_plans,
    lock_keys,
    write_transaction,
)
from timeline.blobs import store_attachments
from timeline.claimed_links import ClaimedLink, join_claimed
from timeline.delivery import record_receipts
from timeline.domain import (
    Assignment,
    DomainEvent,
    DomainEventPublisher,
    LoggedEvent,
    Router,
)
from timeline.domain_events import appended, assigned, conversation_event
from timeline.edits import BatchEdits, look_up_edits
from timeline.event_log import record
from timeline.events import (
    InboundEvent,
    MessageEdited,
    MessageReceived,
    MessageStatusChanged,
    RawPayload,
)
from timeline.identities import IdentityKey, lenient_key
from timeline.identity_store import (
    IDENTITIES_MATCHING,
    MATCHING,
    IdentityRow,
    mark_reachable,
    matched,
    matching_parameters,
)
from timeline.ingest_plan import (
    ChannelContext,
    ConversationChange,
    IngestPlan,
    Known,
    event_kind,
    plan_batch,
)
from timeline.link_tokens import LinkTokens
from timeline.models import RawPayloadRecord, TimelineEvent, User
from timeline.storable import storable
from timeline.thread_keys import conversations_by_key, move_keys
from timeline.threading import ChannelHandle, by_handle, newest_conversations
from timeline.vouched_identities import VouchedIdentity, join_vouched

log = logging.getLogger(__name__)

timeline_events = TimelineEvent.__table__
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
    edits: int = 0
    """Edits applied to messages stored (an edit of a message never stored is appended)."""
    receipts: int = 0
    event_ids: list[int] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    domain_events: list[DomainEvent] = field(default_factory=list)
    """Domain events to log as the batch's last write (its writer logs the rest itself)."""
    logged: list[LoggedEvent] = field(default_factory=list)
    """The domain events as logged in the batch's transaction: what to publish after commit."""


class IngestPipeline:
    """Persists inbound events in one transaction per batch, then publishes what happened."""

    def __init__(
        self,
        engine: AsyncEngine,
        router: Router,
        publisher: DomainEventPublisher,
        link_tokens: LinkTokens,
    ) -> None:
        self._engine = engine
        self._router = router
        self._publisher = publisher
        self._link_tokens = link_tokens

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
        async with write_transaction(source, locks=batch.locks()) as conn:
            return await _logged(conn, await self._persist(conn, batch))

    async def publish(self, events: list[LoggedEvent]) -> None:
        """Hand what a committed batch did (its logged domain events) to listeners and the
        stream."""
        if events:
            await self._publisher.publish(events)

    async def persist(self, conn: AsyncConnection, requests: list[IngestRequest]) -> IngestOutcome:
        """Everything the pipeline writes, its domain events logged last, inside the caller's
        transaction (which may go on, briefly: until it ends, other writers of the log wait)."""
        batch = _Batch.of(requests)
        async with keyed_plans(conn):
            await lock_keys(conn, batch.locks())
            return await _logged(conn, await self._persist(conn, batch))

    async def _persist(self, conn: AsyncConnection, batch: _Batch) -> IngestOutcome:
        """The batch's writes, its locks held (they cover forwarded mail's authors too)."""
        return await self._write(conn, await _file_forwards_under_their_author(conn, batch))

    async def _write(self, conn: AsyncConnection, batch: _Batch) -> IngestOutcome:
        """The batch's writes, its locks held, planned as storage.sql.KEYED_PLANS says: read
        everything first (one statement for a batch of texts), decide (timeline.ingest_plan),
        route, then write (the batch writer's two statements on PostgreSQL)."""
        outcome = batch.outcome
        known = await _look_up(conn, batch.candidates, batch.keys)
        pending = [
            (ctx, event, key)
            for (ctx, event), key in zip(batch.candidates, batch.keys, strict=True)
            if (event.channel_account_id, event.external_id) not in known.stored
        ]
        outcome.duplicates += len(batch.candidates) - len(pending)
        edits, unabsorbed = await _sort_out_edits(conn, pending)
        outcome.duplicates += len(pending) - len(unabsorbed) - len(edits.to_apply)
        pending = unabsorbed
        outcome.receipts = await record_receipts(
            conn, [(ctx.workspace_id, event) for ctx, event in batch.receipts]
        )
        raw = RowsInsert(
            RawPayloadRecord.__table__, _raw_payload_rows(batch.requests), ignore_conflicts=True
        )
        if not pending:
            await insert_together(conn, raw)
            await _apply_edits(conn, edits, [], outcome)
            return outcome
        plan = plan_batch(pending, known)
        routed = plan.routed()
        also = await self._route(conn, routed)
        write = write_batch if is_postgres(conn) else write_plainly
        written = await write(
            conn, plan, raw, also, lambda w: _domain_events(plan, w, _assignments(routed, w))
        )
        outcome.event_ids = written.event_ids
        outcome.appended = len(written.event_ids)
        outcome.assignments = _assignments(routed, written)
        outcome.logged.extend(written.logged)
        appended = [(a.channel.workspace_id, a.event) for a in plan.appended]
        await store_attachments(conn, appended, written.event_ids)
        if plan.moved_keys:
            await move_keys(conn, owned(plan, written, plan.moved_keys))
        stored = ((w, e, i) for (w, e), i in zip(appended, written.event_ids, strict=True))
        await _apply_edits(conn, edits, stored, outcome)
        await mark_reachable(conn, _written_again(plan))
        await join_vouched(conn, _vouched(plan, written))
        await join_claimed(conn, self._link_tokens, _claimed(plan))
        return outcome

    async def _route(
        self, conn: AsyncConnection, routed: list[ConversationChange]
    ) -> list[UpdateRows]:
        """Ask the router for an agent for each conversation that needs one, and note them;
        the router's own rows to write come back, for the writer to carry out."""
        if not routed:
            return []
        choice = await self._router.choose(conn, [change.routing_need() for change in routed])
        for change, agent_id in zip(routed, choice.agents, strict=True):
            change.assignee_id = agent_id
        return choice_updates(choice)


async def _logged(conn: AsyncConnection, outcome: IngestOutcome) -> IngestOutcome:
    """The outcome, the domain events its writer did not log (edits') logged after those it
    did, in its transaction."""
    outcome.logged.extend(await record(conn, outcome.domain_events))
    return outcome


_Pending = tuple[ChannelContext, InboundEvent, IdentityKey]


async def _sort_out_edits(
    conn: AsyncConnection, pending: list[_Pending]
) -> tuple[BatchEdits, list[_Pending]]:
    """The batch's edits looked up, and the events left to append: all but the edits that are
    duplicates or apply to a message stored or arriving (a batch without edits reads nothing)."""
    edited = [event for _, event, _ in pending if isinstance(event, MessageEdited)]
    if not edited:
        return BatchEdits(), pending
    edits = await look_up_edits(conn, edited)
    arriving = {
        (event.channel_account_id, event.external_id)
        for _, event, _ in pending
        if isinstance(event, MessageReceived)
    }
    return edits, [each for each in pending if not edits.absorbs(each[1], arriving)]


async def _apply_edits(
    conn: AsyncConnection,
    edits: BatchEdits,
    appended: Iterable[tuple[int, InboundEvent, int]],
    outcome: IngestOutcome,
) -> None:
    published = await edits.apply(conn, appended)
    outcome.edits += len(published)
    outcome.domain_events.extend(published)


def _vouched(plan: IngestPlan, written: Written) -> list[VouchedIdentity]:
    """The identities the batch's messages vouch are their senders', with the senders'
    customers."""
    return [
        VouchedIdentity(
            appended.channel.workspace_id,
            written.identity(appended.sender).customer_id,
            lenient_key(identity, appended.channel.default_country),
        )
        for appended in plan.appended
        if isinstance(appended.event, MessageReceived)
        for identity in appended.event.vouched
    ]


def _written_again(plan: IngestPlan) -> set[int]:
    """The identities marked unreachable that the batch's messages came from (read with the
    batch's identities, so a batch without such a sender writes nothing more)."""
    return {
        appended.sender.id
        for appended in plan.appended
        if isinstance(appended.event, MessageReceived)
        and isinstance(appended.sender, IdentityRow)
        and appended.sender.unreachable
    }


def _claimed(plan: IngestPlan) -> list[ClaimedLink]:
    """The link tokens the batch's messages present, with their senders."""
    return [
        ClaimedLink(
            appended.channel.workspace_id,
            _identity_key(appended.channel, appended.event),
            appended.event.claimed_link,
        )
        for appended in plan.appended
        if isinstance(appended.event, MessageReceived) and appended.event.claimed_link is not None
    ]


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
        """What concurrent batches must not write at once, taken as the transaction begins: the
        events, the messages edited, their senders and the other identities they name."""
        return [
            *(("event", f"{e.channel_account_id}:{e.external_id}") for _, e in self.candidates),
            *(
                ("event", f"{e.channel_account_id}:{e.original_id}")
                for _, e in self.candidates
                if isinstance(e, MessageEdited)
            ),
            *(
                ("identity", f"{c.workspace_id}:{k.kind}:{k.value}")
                for (c, _), k in zip(self.candidates, self.keys, strict=True)
            ),
            *(("identity", f"{c.workspace_id}:{k.kind}:{k.value}") for c, k in self._also_named()),
        ]

    def _also_named(self) -> list[tuple[ChannelContext, IdentityKey]]:
        """Identities the batch may write besides its senders': the authors of forwarded mail
        (filed under them when the forwarder turns out to be a colleague, which is known only
        once the transaction reads) and the identities senders vouch for (a shared contact)."""
        named: list[tuple[ChannelContext, IdentityKey]] = []
        for ctx, event in self.candidates:
            if isinstance(event, MessageReceived):
                author = (event.forwarded_from,) if event.forwarded_from is not None else ()
                named.extend(
                    (ctx, lenient_key(identity, ctx.default_country))
                    for identity in (*author, *event.vouched)
                )
        return named


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


async def _look_up(
    conn: AsyncConnection,
    candidates: list[tuple[ChannelContext, InboundEvent]],
    keys: list[IdentityKey],
) -> Known:
    """Events already stored, known identities, and their newest conversations (locked).

    The caller holds the events' and identities' locks, so none of this changes before commit.
    """
    if not candidates:
        return Known()
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
    known = Known(
        stored={(account, external_id) for account, external_id in stored} & events,
        identities=matched(identity_rows, senders),
    )
    handles = {
        ChannelHandle(
            ctx.workspace_id, known.identities[(ctx.workspace_id, key)].id, ctx.channel_account_id
        )
        for (ctx, event), key in zip(candidates, keys, strict=True)
        if isinstance(event, MessageReceived) and (ctx.workspace_id, key) in known.identities
    }
    known.conversations.update(by_handle(conversation_rows, handles))
    referring = {
        (ctx.channel_account_id, key)
        for ctx, event in candidates
        if isinstance(event, MessageReceived) and event.thread is not None
        for key in event.thread.refers_to
    }
    known.referenced.update(await conversations_by_key(conn, referring))
    return known


def _assignments(routed: list[ConversationChange], written: Written) -> list[Assignment]:
    return [
        Assignment(written.conversation_id(change), change.assignee_id)
        for change in routed
        if change.assignee_id is not None
    ]


def _domain_events(
    plan: IngestPlan, written: Written, assignments: list[Assignment]
) -> list[DomainEvent]:
    """The batch's conversations opened or reopened, events appended and assignments."""
    events: list[DomainEvent] = []
    for change in plan.conversations:
        kind = (
            "conversation.opened"
            if change.opened
            else "conversation.reopened"
            if change.reopened
            else None
        )
        if kind:
            events.append(
                conversation_event(change.workspace_id, kind, written.conversation_id(change))
            )
    for each, event_id in zip(plan.appended, written.event_ids, strict=True):
        conversation = each.conversation
        events.append(
            appended(
                each.channel.workspace_id,
                event_id,
                event_kind(each.event),
                written.conversation_id(conversation) if conversation else None,
                each.event.occurred_at,
                channel_account_id=each.channel.channel_account_id,
                **({"automated": True} if _automated(each.event) else {}),
            )
        )
    workspace_of = {written.conversation_id(c): c.workspace_id for c in plan.conversations}
    for assignment in assignments:
        workspace_id = workspace_of[assignment.conversation_id]
        events.append(assigned(workspace_id, assignment.conversation_id, assignment.agent_id))
    return events


def _automated(event: InboundEvent) -> bool:
    return isinstance(event, MessageReceived) and event.automated
