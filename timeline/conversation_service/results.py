"""What the service's operations return: the state a change left, and the domain events it
caused, for the caller to publish once it has committed."""

from __future__ import annotations

from dataclasses import dataclass

from timeline.conversation_service.agents import AgentState
from timeline.conversation_service.state import ConversationState
from timeline.domain import DomainEvent


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


@dataclass(frozen=True, slots=True)
class Retired:
    deactivated: bool
    """False: the agent was deactivated already (nothing of theirs changed but stray holds)."""
    handed_back: list[int]
    """The unresolved conversations taken from the agent, each routed on or left waiting."""
    events: list[DomainEvent]
