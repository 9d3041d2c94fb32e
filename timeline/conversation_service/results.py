"""What the service's operations return: the state a change left, and the domain events it
caused, for the caller to publish once it has committed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from timeline.conversation_service.agents import AgentState
from timeline.conversation_service.state import ConversationState
from timeline.domain import Assignment, DomainEvent, appended_data


@dataclass(frozen=True, slots=True)
class Changed:
    conversation: ConversationState
    events: list[DomainEvent]


@dataclass(frozen=True, slots=True)
class Replied:
    event_id: int
    message_id: int
    """The outbox row: a `send_message` job sends it once the caller has committed."""
    events: list[DomainEvent]


@dataclass(frozen=True, slots=True)
class Noted:
    event_id: int
    events: list[DomainEvent]


@dataclass(frozen=True, slots=True)
class Woken:
    conversation_ids: list[int]
    events: list[DomainEvent]


@dataclass(frozen=True, slots=True)
class AvailabilitySet:
    agent: AgentState
    events: list[DomainEvent]


def conversation_event(
    workspace_id: int, type: str, conversation_id: int, **data: Any
) -> DomainEvent:
    return DomainEvent(workspace_id, type, {"conversation_id": conversation_id, **data})


def assigned(workspace_id: int, conversation_id: int, agent_id: int | None) -> DomainEvent:
    """`conversation.assigned`: one for each assignment the service makes or routing makes for
    it (agent None: unassigned)."""
    return conversation_event(
        workspace_id, "conversation.assigned", conversation_id, agent_id=agent_id
    )


def each_assigned(workspace_id: int, assignments: list[Assignment]) -> list[DomainEvent]:
    return [assigned(workspace_id, a.conversation_id, a.agent_id) for a in assignments]


def appended(
    workspace_id: int, event_id: int, kind: str, conversation_id: int, occurred_at: datetime
) -> DomainEvent:
    """An event appended to a customer's timeline (a reply, a note)."""
    return DomainEvent(
        workspace_id,
        "timeline.event_appended",
        appended_data(event_id, kind, conversation_id, occurred_at),
    )
