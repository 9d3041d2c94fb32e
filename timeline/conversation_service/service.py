"""The conversation service: every change to a conversation, in the caller's transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from functools import partial
from typing import Any

import nh3
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.routing_writes import write_choice
from timeline import audit
from timeline.actor import Actor
from timeline.conversation_service import agents
from timeline.conversation_service.messages import (
    ReplyCapabilities,
    ReplyDraft,
    append_note,
    refuse_if_opted_out,
    refuse_what_the_channel_cannot_carry,
)
from timeline.conversation_service.results import (
    AvailabilitySet,
    Changed,
    Noted,
    Replied,
    Retired,
    Woken,
)
from timeline.conversation_service.snoozing import open_due, wake_time
from timeline.conversation_service.state import (
    ConversationState,
    find_conversation,
    refuse_if_resolved,
    set_columns,
)
from timeline.domain import AgentLoad, Assignment, DomainEvent, Router, RoutingRequest
from timeline.domain_events import appended, assigned, conversation_event, each_assigned
from timeline.errors import Conflict, Forbidden
from timeline.field_changes import by_hub, record_changes
from timeline.models import ChangeSource, RecordType
from timeline.models import ConversationStatus as Status
from timeline.models.people import Availability
from timeline.outbox import queue_reply
from timeline.policy import (
    Holding,
    act_refusal,
    assign_refusal,
    availability_refusal,
    transfer_refusal,
)

WAKE_BATCH = 200
"""How many due conversations one sweep's transaction wakes."""


class ConversationService:
    """Reply, note, assign, transfer, resolve, reopen, snooze, mark pending, wake, agents'
    availability, and an agent's retirement (their user deactivated).

    Each operation runs in the caller's transaction: it scopes every read to the actor's
    workspace (another workspace's ids are NotFound), checks what the actor's role allows
    (the record rules of timeline.policy: Forbidden with the rule's code),
    writes the change and its audit entry, and returns the domain events it caused, for the
    caller to publish once committed. An agent's load counts their unresolved conversations
    (open, pending or snoozed alike): the router's choices carry the loads they add, `AgentLoad`
    counts every other change of hands.
    """

    def __init__(self, router: Router, load: AgentLoad) -> None:
        self._router = router
        self._load = load

    async def reply(
        self,
        conn: AsyncConnection,
        actor: Actor,
        conversation_id: int,
        draft: ReplyDraft,
        capabilities: ReplyCapabilities,
    ) -> Replied:
        """Queue a reply to the customer, on the conversation's channel, whose `capabilities`
        the caller looked up: Invalid if the channel cannot carry it, Conflict `opted_out` if
        the customer opted out there. The HTML is sanitized in a worker thread: nh3's time
        grows with the square of how deeply elements nest (its 200,000 characters can take
        seconds), and it lets go of the GIL, so the event loop goes on meanwhile."""
        conversation = await find_conversation(conn, actor.workspace_id, conversation_id)
        await _refuse_unless(act_refusal, conn, actor, conversation)
        refuse_what_the_channel_cannot_carry(draft, capabilities)
        await refuse_if_opted_out(conn, conversation.id)
        html = await asyncio.to_thread(nh3.clean, draft.html) if draft.html is not None else None
        queued = await queue_reply(
            conn,
            workspace_id=actor.workspace_id,
            conversation_id=conversation.id,
            author_user_id=actor.user_id,
            body=draft.body,
            html=html,
            attachments=draft.attachments,
        )
        await _audit(
            conn, actor, "conversation.replied", conversation, message_id=queued.message_id
        )
        event = appended(
            actor.workspace_id,
            queued.event_id,
            "message_sent",
            conversation.id,
            queued.occurred_at,
        )
        return Replied(queued.event_id, queued.message_id, [event])

    async def note(
        self, conn: AsyncConnection, actor: Actor, conversation_id: int, body: str
    ) -> Noted:
        """An internal note on the conversation, for agents' eyes only."""
        conversation = await find_conversation(conn, actor.workspace_id, conversation_id)
        await _refuse_unless(act_refusal, conn, actor, conversation)
        event_id, noted_at = await append_note(
            conn,
            workspace_id=actor.workspace_id,
            customer_id=conversation.customer_id,
            conversation_id=conversation.id,
            author_user_id=actor.user_id,
            body=body,
        )
        await _audit(conn, actor, "conversation.noted", conversation, event_id=event_id)
        event = appended(actor.workspace_id, event_id, "note", conversation.id, noted_at)
        return Noted(event_id, [event])

    async def assign(
        self, conn: AsyncConnection, actor: Actor, conversation_id: int, agent_id: int | None
    ) -> Changed:
        """Give the conversation to an agent of the workspace, or to nobody (None). Agents may
        take a conversation or let one go; giving one to someone else, or taking or unassigning
        someone else's, needs conversations.reassign."""
        rule = partial(assign_refusal, agent_id=agent_id)
        conversation = await _locked(conn, actor, conversation_id, rule)
        if agent_id is not None:
            await agents.require_agent(conn, actor.workspace_id, agent_id)
        if not conversation.resolved:
            await self._load.hand_over(conn, conversation.assignee_id, agent_id)
        await set_columns(conn, actor, conversation, assignee_id=agent_id)
        await _audit(
            conn,
            actor,
            "conversation.assigned",
            conversation,
            assignee_id=[conversation.assignee_id, agent_id],
        )
        return await _changed(
            conn, actor, conversation, [assigned(actor.workspace_id, conversation.id, agent_id)]
        )

    async def transfer(
        self, conn: AsyncConnection, actor: Actor, conversation_id: int, team_id: int | None
    ) -> Changed:
        """Hand the conversation to a team (None: the whole workspace): it leaves its agent
        and, unless resolved, goes to the team's next available agent. Handing over someone
        else's needs conversations.reassign."""
        conversation = await _locked(conn, actor, conversation_id, transfer_refusal)
        if team_id is not None:
            await agents.require_team(conn, actor.workspace_id, team_id)
        routed = []
        if not conversation.resolved:
            await self._load.hand_over(conn, conversation.assignee_id, None)
            routed = [RoutingRequest(actor.workspace_id, conversation.id, team_id)]
        await set_columns(conn, actor, conversation, team_id=team_id, assignee_id=None)
        assignments = await self._route(conn, routed)
        await _audit(
            conn,
            actor,
            "conversation.transferred",
            conversation,
            team_id=[conversation.team_id, team_id],
        )
        transferred = conversation_event(
            actor.workspace_id, "conversation.transferred", conversation.id, team_id=team_id
        )
        return await _changed(
            conn,
            actor,
            conversation,
            [transferred, *each_assigned(actor.workspace_id, assignments)],
        )

    async def resolve(self, conn: AsyncConnection, actor: Actor, conversation_id: int) -> Changed:
        """Resolved: the conversation no longer counts against its agent, who stays named on
        it. Resolving a resolved conversation changes nothing."""
        conversation = await _locked(conn, actor, conversation_id)
        if conversation.resolved:
            return Changed(conversation, [])
        await self._load.hand_over(conn, conversation.assignee_id, None)
        await set_columns(
            conn,
            actor,
            conversation,
            status=Status.RESOLVED,
            resolved_at=datetime.now(UTC),
            waiting_since=None,
            snoozed_until=None,
        )
        return await _status_changed(conn, actor, conversation, Status.RESOLVED)

    async def reopen(self, conn: AsyncConnection, actor: Actor, conversation_id: int) -> Changed:
        """Open again. A resolved conversation goes back to its last agent if they have room,
        else to the next available one; a pending or snoozed one stays with its agent, and is
        routed if it has none. An open conversation stays as it is."""
        conversation = await _locked(conn, actor, conversation_id)
        if conversation.status == Status.OPEN:
            return Changed(conversation, [])
        workspace_id, team_id = actor.workspace_id, conversation.team_id
        if conversation.resolved:
            await set_columns(
                conn, actor, conversation, status=Status.OPEN, resolved_at=None, assignee_id=None
            )
            # Its last agent first, if they still have room.
            routed = [
                RoutingRequest(workspace_id, conversation.id, team_id, conversation.assignee_id)
            ]
        else:
            await set_columns(conn, actor, conversation, status=Status.OPEN, snoozed_until=None)
            held = conversation.assignee_id is not None
            routed = [] if held else [RoutingRequest(workspace_id, conversation.id, team_id)]
        assignments = await self._route(conn, routed)
        return await _status_changed(
            conn, actor, conversation, Status.OPEN, each_assigned(workspace_id, assignments)
        )

    async def snooze(
        self, conn: AsyncConnection, actor: Actor, conversation_id: int, until: datetime
    ) -> Changed:
        """Put the conversation aside until `until` (tz-aware, in the future; else Invalid),
        when the scheduler opens it again; a message from the customer opens it sooner. It
        stays with its agent meanwhile. A resolved one is not snoozed (Conflict `resolved`)."""
        wakes_at = wake_time(until, datetime.now(UTC))
        conversation = await _locked(conn, actor, conversation_id)
        refuse_if_resolved(conversation, "snoozed")
        await set_columns(conn, actor, conversation, status=Status.SNOOZED, snoozed_until=wakes_at)
        return await _status_changed(
            conn, actor, conversation, Status.SNOOZED, until=wakes_at.isoformat()
        )

    async def mark_pending(
        self, conn: AsyncConnection, actor: Actor, conversation_id: int
    ) -> Changed:
        """Pending: waiting on the customer, whose next message opens it again. It stays with
        its agent. A resolved one is not marked pending (Conflict `resolved`); a pending one
        stays as it is."""
        conversation = await _locked(conn, actor, conversation_id)
        if conversation.status == Status.PENDING:
            return Changed(conversation, [])
        refuse_if_resolved(conversation, "marked pending")
        await set_columns(conn, actor, conversation, status=Status.PENDING, snoozed_until=None)
        return await _status_changed(conn, actor, conversation, Status.PENDING)

    async def wake_due(self, conn: AsyncConnection, *, limit: int = WAKE_BATCH) -> Woken:
        """Open the snoozed conversations whose time has come, in every workspace, up to
        `limit` (the scheduler calls again while a batch comes back full); those with no agent
        are routed. Sweeps running at once in several processes wake each one once."""
        due = await open_due(conn, datetime.now(UTC), limit)
        workspace_of = {c.id: c.workspace_id for c in due}
        assignments = await self._route(
            conn,
            [RoutingRequest(c.workspace_id, c.id, c.team_id) for c in due if c.assignee_id is None],
        )
        await audit.record_all(
            conn,
            [
                audit.Audited(
                    c.workspace_id,
                    None,
                    "conversation.woken",
                    "conversation",
                    c.id,
                    {"status": [Status.SNOOZED, Status.OPEN]},
                )
                for c in due
            ],
        )
        await record_changes(
            conn,
            [
                by_hub(
                    ChangeSource.SCHEDULER,
                    c.workspace_id,
                    RecordType.CONVERSATION,
                    c.id,
                    field,
                    previous,
                    new,
                )
                for c in due
                for field, previous, new in (
                    ("status", Status.SNOOZED, Status.OPEN),
                    ("snoozed_until", c.snoozed_until, None),
                )
            ],
        )
        events = [conversation_event(c.workspace_id, "conversation.woken", c.id) for c in due]
        events += [
            assigned(workspace_of[a.conversation_id], a.conversation_id, a.agent_id)
            for a in assignments
        ]
        return Woken([c.id for c in due], events)

    async def set_availability(
        self, conn: AsyncConnection, actor: Actor, agent_id: int, availability: Availability
    ) -> AvailabilitySet:
        """An agent available or away; agents set their own, managers anyone's (a deactivated
        user is not made available: Conflict `deactivated`). When an agent is available, the
        open conversations nobody holds are routed, oldest first: to them, and by turns to the
        other available agents with room."""
        before = await agents.find_agent(conn, actor.workspace_id, agent_id)
        if refusal := availability_refusal(actor, agent_id):
            raise refusal
        if before.deactivated_at is not None and availability == Availability.AVAILABLE:
            raise Conflict("deactivated", "the agent's user is deactivated: reactivate them first")
        # Conversations are locked before the agent's row, as every other change locks them.
        waiting = (
            await agents.waiting_conversations(conn, actor.workspace_id)
            if availability == Availability.AVAILABLE
            else []
        )
        events: list[DomainEvent] = []
        if before.availability != availability:
            await agents.set_availability(conn, agent_id, availability)
            await audit.record(
                conn,
                workspace_id=actor.workspace_id,
                actor_user_id=actor.user_id,
                action="agent.availability",
                entity_type="user",
                entity_id=agent_id,
                changes={"availability": [before.availability, availability]},
            )
            events.append(
                DomainEvent(
                    actor.workspace_id,
                    "agent.availability_changed",
                    {"agent_id": agent_id, "availability": availability},
                )
            )
        assignments = await self._route(conn, waiting)
        events += each_assigned(actor.workspace_id, assignments)
        agent = await agents.find_agent(conn, actor.workspace_id, agent_id)
        return AvailabilitySet(agent, events)

    async def retire_agent(
        self, conn: AsyncConnection, workspace_id: int, agent_id: int
    ) -> Retired:
        """An agent who no longer works here (their user deactivated): away for good, and their
        unresolved conversations handed to the next available agents of their teams (or left
        waiting for one), each conversation's history naming routing as the one who moved it."""
        before = await agents.find_agent(conn, workspace_id, agent_id)
        # Conversations are locked before the agent's row, as every other change locks them;
        # what routing gave the agent until the row was theirs is taken after.
        taken = await agents.take_held(conn, workspace_id, agent_id)
        deactivated = await agents.deactivate(conn, agent_id)
        taken += await agents.take_held(conn, workspace_id, agent_id)
        for _ in taken:
            await self._load.hand_over(conn, agent_id, None)
        await record_changes(
            conn,
            [
                by_hub(
                    ChangeSource.ROUTING,
                    workspace_id,
                    RecordType.CONVERSATION,
                    request.conversation_id,
                    "assignee_id",
                    agent_id,
                    None,
                )
                for request in taken
            ],
        )
        assignments = await self._route(conn, taken)
        events = [assigned(workspace_id, request.conversation_id, None) for request in taken]
        events += each_assigned(workspace_id, assignments)
        if before.availability != Availability.AWAY:
            away = {"agent_id": agent_id, "availability": Availability.AWAY}
            events.insert(0, DomainEvent(workspace_id, "agent.availability_changed", away))
        return Retired(deactivated, [request.conversation_id for request in taken], events)

    async def _route(
        self, conn: AsyncConnection, requests: list[RoutingRequest]
    ) -> list[Assignment]:
        """Agents chosen for stored conversations, and given them."""
        choice = await self._router.choose(conn, [request.need for request in requests])
        return await write_choice(conn, requests, choice)


_STATUS_EVENTS = {
    Status.OPEN: "conversation.reopened",
    Status.PENDING: "conversation.marked_pending",
    Status.SNOOZED: "conversation.snoozed",
    Status.RESOLVED: "conversation.resolved",
}


async def _status_changed(
    conn: AsyncConnection,
    actor: Actor,
    conversation: ConversationState,
    status: Status,
    routed: list[DomainEvent] | None = None,
    **data: Any,
) -> Changed:
    """Audit a change of status (with `data`) and tell of it, with what routing did because of
    it."""
    happened = _STATUS_EVENTS[status]
    await _audit(conn, actor, happened, conversation, status=[conversation.status, status], **data)
    event = conversation_event(actor.workspace_id, happened, conversation.id, **data)
    return await _changed(conn, actor, conversation, [event, *(routed or [])])


Rule = Callable[[Actor, Holding, Collection[int]], Forbidden | None]
"""A record rule of timeline.policy: why the actor may not, or None."""


async def _locked(
    conn: AsyncConnection, actor: Actor, conversation_id: int, rule: Rule = act_refusal
) -> ConversationState:
    """The conversation, held until the caller's transaction ends, once the record `rule`
    lets the actor change it (Forbidden otherwise): concurrent changes to one conversation
    take turns, each seeing what the one before it left."""
    conversation = await find_conversation(conn, actor.workspace_id, conversation_id, lock=True)
    await _refuse_unless(rule, conn, actor, conversation)
    return conversation


async def _refuse_unless(
    rule: Rule, conn: AsyncConnection, actor: Actor, conversation: ConversationState
) -> None:
    """Raise the rule's refusal, if any; the actor's teams are read only when it needs them."""
    holding = Holding(conversation.assignee_id, conversation.team_id)
    teams = (
        await agents.team_ids_of(conn, actor.user_id)
        if holding.needs_teams_of(actor)
        else frozenset[int]()
    )
    if refusal := rule(actor, holding, teams):
        raise refusal


async def _audit(
    conn: AsyncConnection,
    actor: Actor,
    action: str,
    conversation: ConversationState,
    **changes: Any,
) -> None:
    await audit.record(
        conn,
        workspace_id=actor.workspace_id,
        actor_user_id=actor.user_id,
        action=action,
        entity_type="conversation",
        entity_id=conversation.id,
        changes=changes,
    )


async def _changed(
    conn: AsyncConnection, actor: Actor, conversation: ConversationState, events: list[DomainEvent]
) -> Changed:
    """The conversation as the change left it, read in the same transaction."""
    return Changed(await find_conversation(conn, actor.workspace_id, conversation.id), events)
