"""Keeps each conversation's response-time facts from the domain-event log: its first customer
message and the first agent reply after it, and how long each customer message waited for a
reply (the facts reports will roll up)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from reports.models import ConversationResponse, CustomerWait
from storage.bulk import insert_rows
from timeline.domain import Listener, LoggedEvent

responses = ConversationResponse.__table__
waits = CustomerWait.__table__

CUSTOMER_MESSAGE = "message_received"
AGENT_REPLY = "message_sent"


async def keep_response_times(conn: AsyncConnection, events: list[LoggedEvent]) -> None:
    """Record customers' messages and the replies that answer them, idempotently: a message is
    recorded once (by its timeline event's id), and a reply answers only the messages logged
    before it that nothing answered yet, so hearing the same events again changes nothing.
    Automated messages (auto-replies, bounces) start no customer's wait."""
    messages = [e for e in events if _kind(e) == CUSTOMER_MESSAGE and not e.data.get("automated")]
    firsts: dict[int, LoggedEvent] = {}
    for message in messages:
        firsts.setdefault(message.data["conversation_id"], message)
    await insert_rows(
        conn,
        responses,
        [
            {
                "conversation_id": conversation_id,
                "workspace_id": first.workspace_id,
                "first_message_at": _occurred(first),
                "first_message_position": first.id,
            }
            for conversation_id, first in firsts.items()
        ],
        ignore_conflicts=True,
    )
    await insert_rows(
        conn,
        waits,
        [
            {
                "message_event_id": message.data["event_id"],
                "workspace_id": message.workspace_id,
                "conversation_id": message.data["conversation_id"],
                "position": message.id,
                "received_at": _occurred(message),
            }
            for message in messages
        ],
        ignore_conflicts=True,
    )
    for reply in (e for e in events if _kind(e) == AGENT_REPLY):
        await _answer(conn, reply)


async def _answer(conn: AsyncConnection, reply: LoggedEvent) -> None:
    conversation_id, at = reply.data["conversation_id"], _occurred(reply)
    await conn.execute(
        update(waits)
        .where(waits.c.conversation_id == conversation_id)
        .where(waits.c.answered_at.is_(None))
        .where(waits.c.position < reply.id)
        .values(answered_at=at, answer_event_id=reply.data["event_id"])
    )
    await conn.execute(
        update(responses)
        .where(responses.c.conversation_id == conversation_id)
        .where(responses.c.first_response_at.is_(None))
        .where(responses.c.first_message_position < reply.id)
        .values(first_response_at=at, first_response_event_id=reply.data["event_id"])
    )


def _kind(event: LoggedEvent) -> str | None:
    return event.data.get("kind") if event.data.get("conversation_id") is not None else None


def _occurred(event: LoggedEvent) -> datetime:
    return datetime.fromisoformat(event.data["occurred_at"])


RESPONSE_TIMES = Listener(
    "reports.response_times", frozenset({"timeline.event_appended"}), keep_response_times
)
