"""What the router reads of its pools, in the caller's transaction (storage/ implements it)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection


class AgentPools(Protocol):
    """A pool is a workspace's available agents, or a team's (`team_id`)."""

    async def free_capacity(
        self, conn: AsyncConnection, workspace_id: int, team_id: int | None
    ) -> dict[int, int]:
        """The pool's available agents with room, each with how many more conversations they
        can take."""
        ...

    async def lock_cursor(
        self, conn: AsyncConnection, workspace_id: int, team_id: int | None
    ) -> int:
        """The last agent the pool handed a conversation to (0 for nobody yet), its cursor
        locked until the caller's transaction ends so that concurrent choices take turns."""
        ...
