"""Agents' loads: the one writer of each agent's count of unresolved conversations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from sqlalchemy import BigInteger, Integer
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import RowsUpdate, UpdateRows, update_rows
from timeline.models import User

users = User.__table__

_ADD_LOAD = RowsUpdate(
    users,
    column="id",
    key="agent_id",
    types={"agent_id": BigInteger(), "count": Integer()},
    values=lambda p: {"open_conversations": users.c.open_conversations + p.count},
)


def load_changes(per_agent: Mapping[int, int]) -> UpdateRows:
    """The agents' counters moved by these amounts, in agent order (so that concurrent
    transactions lock agents alike and never deadlock)."""
    return UpdateRows(
        _ADD_LOAD,
        [{"agent_id": agent, "count": count} for agent, count in sorted(per_agent.items())],
    )


class AgentLoadCounter:
    """Keeps `users.open_conversations` as conversations change hands (implements
    timeline.domain.AgentLoad; what a router chooses adds its loads through
    `storage.routing_writes`)."""

    async def hand_over(
        self, conn: AsyncConnection, from_agent_id: int | None, to_agent_id: int | None
    ) -> None:
        if from_agent_id == to_agent_id:
            return
        moves: Counter[int] = Counter()
        if from_agent_id is not None:
            moves[from_agent_id] -= 1
        if to_agent_id is not None:
            moves[to_agent_id] += 1
        await update_rows(conn, load_changes(moves))
