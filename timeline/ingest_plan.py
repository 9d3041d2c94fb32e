"""What a batch of inbound events does, decided without the database from what it holds: the
senders (new ones get a customer), the conversation each message lands in (threading), the
counters, the events to append, their thread keys, consents, and who needs an agent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from timeline.domain import RoutingNeed
from timeline.events import ConsentChanged, InboundEvent, MessageReceived, ThreadKey
from timeline.identities import IdentityKey
from timeline.identity_store import Activity, IdentityRow
from timeline.models import ConversationStatus
from timeline.thread_keys import AccountKey
from timeline.threading import ChannelHandle, ConversationRow


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What the pipeline needs to know about the channel account an event came through."""

    channel_account_id: int
    workspace_id: int
    default_country: str
    reopen_window: timedelta


@dataclass(eq=False, slots=True)
class NewSender:
    """An identity never seen before: it gets a customer of its own, who starts with what the
    batch brings counted. Compared by identity: it is the plan's handle on rows not yet made.
    The pipeline holds the identities' locks and has looked them up, so two events from the
    same new handle never make two customers."""

    workspace_id: int
    key: IdentityKey
    activity: Activity


Sender = IdentityRow | NewSender
"""Who sent an event: a stored identity, or one the batch creates."""


@dataclass(eq=False, slots=True)
class ConversationChange:
    """A conversation the batch opens (`existing` None) or writes to, and what it brings it."""

    workspace_id: int
    channel_account_id: int
    sender: Sender
    existing: ConversationRow | None = None
    subject: str | None = None
    reopened: bool = False
    messages: int = 0
    last_message_at: datetime | None = None
    waiting_since: datetime | None = None
    """The earliest of the batch's messages that starts the customer waiting, if it does."""
    activates: bool = False
    """A message not sent automatically arrived: the conversation is open after the batch."""
    assignee_id: int | None = None
    """The agent routing chose, if it was asked (a conversation opened or reopened)."""

    @property
    def opened(self) -> bool:
        return self.existing is None

    @property
    def status(self) -> str:
        return self.existing.status if self.existing is not None else ConversationStatus.OPEN

    def needs_agent(self) -> bool:
        return (self.opened or self.reopened) and self.activates

    def routing_need(self) -> RoutingNeed:
        existing = self.existing
        return RoutingNeed(
            workspace_id=self.workspace_id,
            team_id=existing.team_id if existing is not None else None,
            preferred_agent_id=existing.assignee_id if existing and self.reopened else None,
        )

    def count(self, event: MessageReceived) -> None:
        self.messages += 1
        newest = self.last_message_at or event.occurred_at
        self.last_message_at = max(newest, event.occurred_at)
        if event.automated:
            return
        self.activates = True
        if self.existing is None or self.existing.waiting_since is None:
            self.waiting_since = min(self.waiting_since or event.occurred_at, event.occurred_at)


@dataclass(frozen=True, slots=True)
class AppendedEvent:
    """An event to append to its sender's timeline, in the conversation it landed in."""

    channel: ChannelContext
    event: InboundEvent
    sender: Sender
    conversation: ConversationChange | None


@dataclass(frozen=True, slots=True)
class Known:
    """What the database holds for a batch's events (read with their locks held)."""

    stored: set[tuple[int, str]] = field(default_factory=set)
    identities: dict[tuple[int, IdentityKey], IdentityRow] = field(default_factory=dict)
    conversations: dict[ChannelHandle, ConversationRow] = field(default_factory=dict)
    """Each known sender's newest conversation on each channel account."""
    referenced: dict[AccountKey, ConversationRow] = field(default_factory=dict)
    """The conversations that the keys the batch's messages refer to name."""


@dataclass(slots=True)
class IngestPlan:
    """What a batch writes, ids aside: a writer in storage/ carries it out."""

    appended: list[AppendedEvent]
    conversations: list[ConversationChange]
    new_senders: list[NewSender]
    """In (workspace, kind, value) order, so that concurrent batches insert alike."""
    earlier_customers: dict[int, Activity]
    """What the batch brings customers that existed before."""
    consents: list[tuple[ChannelContext, Sender, ConsentChanged]]
    moved_keys: list[tuple[AppendedEvent, ThreadKey]] = field(default_factory=list)
    """Keys held by a conversation that their message could not continue (resolved beyond
    the reopen window) and that name a place, not a message: they move to the conversation the
    message opened (see `_moved_keys`)."""

    def routed(self) -> list[ConversationChange]:
        """The conversations that need an agent: opened or reopened by a customer's message."""
        return [change for change in self.conversations if change.needs_agent()]

    def registered_keys(self) -> list[tuple[AppendedEvent, ThreadKey]]:
        """The thread keys the batch's messages carry, with the event each one came with."""
        return [
            (appended, key)
            for appended in self.appended
            if appended.conversation is not None and appended.event.thread is not None
            for key in appended.event.thread.keys
        ]


def event_kind(event: InboundEvent) -> str:
    """The kind an event is stored and published as: its type's name in snake case."""
    return _kind_of(type(event))


@cache
def _kind_of(event_type: type[InboundEvent]) -> str:
    name = event_type.__name__
    return "".join("_" + ch.lower() if ch.isupper() else ch for ch in name).lstrip("_")


def plan_batch(
    pending: list[tuple[ChannelContext, InboundEvent, IdentityKey]], known: Known
) -> IngestPlan:
    """Resolve each sender and thread each message, as if the events arrived one by one."""
    activity = _activity(pending)
    new = {
        pair: NewSender(pair[0], pair[1], brought)
        for pair, brought in sorted(activity.items(), key=_identity_order)
        if pair not in known.identities
    }
    senders: dict[tuple[int, IdentityKey], Sender] = {**known.identities, **new}
    threads = _Threads(known)
    appended: list[AppendedEvent] = []
    consents: list[tuple[ChannelContext, Sender, ConsentChanged]] = []
    for ctx, event, key in pending:
        sender = senders[(ctx.workspace_id, key)]
        change: ConversationChange | None = None
        if isinstance(event, MessageReceived):
            change = threads.conversation_for(ctx, sender, event)
            change.count(event)
        elif isinstance(event, ConsentChanged):
            consents.append((ctx, sender, event))
        appended.append(AppendedEvent(ctx, event, sender, change))
    return IngestPlan(
        appended=appended,
        conversations=threads.changes,
        new_senders=list(new.values()),
        earlier_customers=_by_customer(activity, known.identities),
        consents=consents,
        moved_keys=_moved_keys(appended, known),
    )


def _moved_keys(
    appended: list[AppendedEvent], known: Known
) -> list[tuple[AppendedEvent, ThreadKey]]:
    """A key a message both refers to and registers names a place that outlives conversations
    (a group chat), not one message (whose own id it never refers to): when the conversation
    holding it could not be continued, it follows the message to the one it opened, so the
    place's next messages join that one rather than each opening another. The first such
    message of the batch takes it."""
    moved: dict[AccountKey, tuple[AppendedEvent, ThreadKey]] = {}
    for each in appended:
        thread, change = each.event.thread, each.conversation
        if thread is None or change is None:
            continue
        for key in thread.keys:
            pair = (each.channel.channel_account_id, key.kind, key.key)
            holder = known.referenced.get(pair)
            if (
                key in thread.refers_to
                and holder is not None
                and (change.existing is None or change.existing.id != holder.id)
            ):
                moved.setdefault(pair, (each, key))
    return list(moved.values())


def _identity_order(
    item: tuple[tuple[int, IdentityKey], Activity],
) -> tuple[int, str, str]:
    (workspace_id, key), _ = item
    return workspace_id, key.kind, key.value


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


_Thread = tuple[Sender, int]
"""A sender on a channel account: their newest conversation there is current."""


class _Threads:
    """Places a batch's messages in conversations, as if they arrived one after another.

    Starts from each sender's newest stored conversation on each channel account, and from the
    conversations that the keys messages refer to name.
    """

    def __init__(self, known: Known) -> None:
        self._known = known
        self._existing: dict[int, ConversationChange] = {}
        self._newest: dict[_Thread, ConversationChange] = {}
        self._touched: dict[_Thread, list[ConversationChange]] = {}
        self._batch_keys: dict[AccountKey, ConversationChange] = {}
        self._tracked: set[int] = set()
        self.changes: list[ConversationChange] = []

    def conversation_for(
        self, ctx: ChannelContext, sender: Sender, event: MessageReceived
    ) -> ConversationChange:
        """The conversation this message belongs to: an open one, a reopened one, or a new one.

        The first key it refers to that names a conversation decides; without one, the sender's
        newest conversation on the channel account, unless the message must not continue it
        (timeline.events.Threading)."""
        thread = event.thread
        if thread is None:
            return self._by_sender(ctx, sender, event)
        found = self._referenced(ctx.channel_account_id, thread.refers_to)
        if found is None and thread.continues_sender:
            change = self._by_sender(ctx, sender, event)
        else:
            change = self._continue(ctx, event, found) or self._open(ctx, sender, event)
        for key in thread.keys:
            self._batch_keys.setdefault((ctx.channel_account_id, key.kind, key.key), change)
        return change

    def _by_sender(
        self, ctx: ChannelContext, sender: Sender, event: MessageReceived
    ) -> ConversationChange:
        thread = (sender, ctx.channel_account_id)
        for change in self._touched.get(thread, []):
            if change.status != ConversationStatus.RESOLVED or change.reopened:
                return change
        newest = self._newest.get(thread) or self._stored_newest(ctx, sender)
        return self._continue(ctx, event, newest) or self._open(ctx, sender, event)

    def _stored_newest(self, ctx: ChannelContext, sender: Sender) -> ConversationChange | None:
        if isinstance(sender, NewSender):
            return None
        handle = ChannelHandle(ctx.workspace_id, sender.id, ctx.channel_account_id)
        row = self._known.conversations.get(handle)
        return self._of(row) if row is not None else None

    def _referenced(self, account: int, keys: tuple[ThreadKey, ...]) -> ConversationChange | None:
        for key in keys:
            pair = (account, key.kind, key.key)
            change = self._batch_keys.get(pair)
            if change is not None:
                return change
            row = self._known.referenced.get(pair)
            if row is not None:
                return self._of(row)
        return None

    def _of(self, row: ConversationRow) -> ConversationChange:
        """The batch's change to a stored conversation (made once, tracked when first used)."""
        change = self._existing.get(row.id)
        if change is None:
            sender = IdentityRow(row.identity_id, row.customer_id)
            change = ConversationChange(
                row.workspace_id, row.channel_account_id, sender, existing=row
            )
            self._existing[row.id] = change
        return change

    def _continue(
        self, ctx: ChannelContext, event: MessageReceived, change: ConversationChange | None
    ) -> ConversationChange | None:
        """The conversation this message continues, if it may."""
        if change is None:
            return None
        if change.status != ConversationStatus.RESOLVED:
            return self._track(change)
        existing = change.existing
        resolved_at = existing.resolved_at if existing is not None else None
        if event.automated or _within(resolved_at, ctx.reopen_window, event):
            change.reopened = change.reopened or not event.automated
            return self._track(change)
        return None

    def _open(
        self, ctx: ChannelContext, sender: Sender, event: MessageReceived
    ) -> ConversationChange:
        change = ConversationChange(
            ctx.workspace_id, ctx.channel_account_id, sender, subject=event.subject
        )
        self._newest[(sender, ctx.channel_account_id)] = change
        return self._track(change)

    def _track(self, change: ConversationChange) -> ConversationChange:
        if id(change) not in self._tracked:
            self._tracked.add(id(change))
            self._touched.setdefault((change.sender, change.channel_account_id), []).append(change)
            self.changes.append(change)
        return change


def _within(resolved_at: datetime | None, window: timedelta, event: MessageReceived) -> bool:
    return resolved_at is not None and event.occurred_at - resolved_at <= window
