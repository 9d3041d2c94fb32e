"""The domain events the core emits, each built in one place (the ingest and the service)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from timeline.domain import Assignment, DomainEvent


def conversation_event(
    workspace_id: int, type: str, conversation_id: int, **data: Any
) -> DomainEvent:
    return DomainEvent(workspace_id, type, {"conversation_id": conversation_id, **data})


def assigned(workspace_id: int, conversation_id: int, agent_id: int | None) -> DomainEvent:
    """`conversation.assigned`: one for each assignment a change makes or routing makes for it
    (agent None: unassigned)."""
    return conversation_event(
        workspace_id, "conversation.assigned", conversation_id, agent_id=agent_id
    )


def each_assigned(workspace_id: int, assignments: list[Assignment]) -> list[DomainEvent]:
    return [assigned(workspace_id, a.conversation_id, a.agent_id) for a in assignments]


def appended(
    workspace_id: int,
    event_id: int,
    kind: str,
    conversation_id: int | None,
    occurred_at: datetime,
    **more: Any,
) -> DomainEvent:
    """`timeline.event_appended`: an event appended to a customer's timeline (a message in or
    out, a note), with enough for listeners to keep their facts without reading it back."""
    return DomainEvent(
        workspace_id,
        "timeline.event_appended",
        {
            "event_id": event_id,
            "kind": kind,
            "conversation_id": conversation_id,
            "occurred_at": occurred_at.isoformat(),
            **more,
        },
    )
