"""Routing's choice written: pools' cursors moved, agents' loads, stored conversations' agents."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.agent_loads import load_changes
from storage.bulk import RowsUpdate, UpdateRows, update_rows
from storage.routing_reads import pool_key
from timeline.domain import Assignment, RoutingChoice, RoutingRequest
from timeline.field_changes import by_hub, record_changes
from timeline.models import ChangeSource, Conversation, RecordType, RoutingCursor
from timeline.models.base import UtcDateTime

cursors = RoutingCursor.__table__
conversations = Conversation.__table__

_MOVE_CURSORS = RowsUpdate(
    cursors,
    column=("workspace_id", "pool"),
    key=("workspace", "pool_name"),
    types={"workspace": BigInteger(), "pool_name": String(), "last_agent": BigInteger()},
    values=lambda p: {"last_agent_id": p.last_agent},
)
_ASSIGN = RowsUpdate(
    conversations,
    column="id",
    key="conversation_id",
    types={"conversation_id": BigInteger(), "agent_id": BigInteger(), "now": UtcDateTime()},
    values=lambda p: {"assignee_id": p.agent_id, "updated_at": p.now},
)


def choice_updates(choice: RoutingChoice) -> list[UpdateRows]:
    """The choice's updates besides the conversations' (the cursors moved, the loads gained),
    for `update_rows`: the ingest runs them in the statement of its own updates."""
    moves = [
        {
            "workspace": c.workspace_id,
            "pool_name": pool_key(c.team_id),
            "last_agent": c.last_agent_id,
        }
        for c in choice.cursors
    ]
    return [UpdateRows(_MOVE_CURSORS, moves), load_changes(choice.loads)]


async def write_choice(
    conn: AsyncConnection, requests: Sequence[RoutingRequest], choice: RoutingChoice
) -> list[Assignment]:
    """Give each stored conversation the agent chosen for it (the choice's needs were the
    requests', in this order), with the choice's other updates, in one statement, and write
    each assignment to the conversation's history; the assignments made.

    Routing is asked only for conversations nobody holds, so each had no agent before."""
    chosen = [
        (request, agent_id)
        for request, agent_id in zip(requests, choice.agents, strict=True)
        if agent_id is not None
    ]
    now = datetime.now(UTC)
    assigned = [
        {"conversation_id": request.conversation_id, "agent_id": agent_id, "now": now}
        for request, agent_id in sorted(chosen, key=lambda pair: pair[0].conversation_id)
    ]
    await update_rows(conn, UpdateRows(_ASSIGN, assigned), *choice_updates(choice))
    await record_changes(
        conn,
        [
            by_hub(
                ChangeSource.ROUTING,
                request.workspace_id,
                RecordType.CONVERSATION,
                request.conversation_id,
                "assignee_id",
                None,
                agent_id,
            )
            for request, agent_id in chosen
        ],
    )
    return [Assignment(request.conversation_id, agent_id) for request, agent_id in chosen]
