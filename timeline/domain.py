"""Domain events (logged with the change that caused them, published after its commit), and the
Protocols the core depends on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened, for realtime fan-out, automation and webhooks."""

    workspace_id: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    """JSON values only (times as ISO 8601 text): the log keeps it as JSON."""


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A domain event as the log keeps it (`timeline/event_log.py`): its id is its position in
    the log, which ascends in commit order, and the stream's event id."""

    id: int
    workspace_id: int
    type: str
    data: dict[str, Any]
    logged_at: datetime


@dataclass(frozen=True, slots=True)
class Listener:
    """Hears the logged domain events of `types`, after their commit, in log order, at least once.

    `handle` runs in a transaction that also moves the listener's cursor past the events, so
    its writes and the cursor commit or roll back together; it must still be idempotent (a
    handler that fails, or a process that dies, has the same events delivered again, and a
    handler's effects outside the database are not rolled back).
    """

    name: str
    types: frozenset[str]
    handle: Callable[[AsyncConnection, list[LoggedEvent]], Awaitable[None]]


class DomainEventPublisher(Protocol):
    async def publish(self, events: list[LoggedEvent]) -> None:
        """Tell listeners and live subscribers of committed, logged events."""
        ...


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    """A conversation that needs an agent; the previous one is preferred when still free."""

    workspace_id: int
    conversation_id: int
    team_id: int | None = None
    preferred_agent_id: int | None = None

    @property
    def need(self) -> RoutingNeed:
        return RoutingNeed(self.workspace_id, self.team_id, self.preferred_agent_id)


@dataclass(frozen=True, slots=True)
class RoutingNeed:
    """An agent wanted from a workspace's pool (or a team's), for a conversation that may not
    be stored yet; the previous agent is preferred when still free."""

    workspace_id: int
    team_id: int | None = None
    preferred_agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class PoolCursor:
    """Where a pool's round robin stops now: the last agent it handed a conversation to."""

    workspace_id: int
    team_id: int | None
    last_agent_id: int


@dataclass(frozen=True, slots=True)
class RoutingChoice:
    """What the router chose, for the caller to write in its transaction."""

    agents: list[int | None] = field(default_factory=list)
    """The agent for each need, in order; None where nobody was free."""
    cursors: list[PoolCursor] = field(default_factory=list)
    """The pools whose round robin moved."""

    @property
    def loads(self) -> dict[int, int]:
        """How many conversations each chosen agent gains."""
        return dict(Counter(agent for agent in self.agents if agent is not None))


@dataclass(frozen=True, slots=True)
class Assignment:
    conversation_id: int
    agent_id: int


class Router(Protocol):
    """Chooses agents inside the caller's transaction (routing/ implements it)."""

    async def choose(self, conn: AsyncConnection, needs: list[RoutingNeed]) -> RoutingChoice:
        """Choose an agent for each need, locking what keeps concurrent choices apart until the
        caller commits; the caller writes the choice (storage.routing_writes)."""
        ...


class AgentLoad(Protocol):
    """Keeps each agent's count of unresolved conversations as conversations change hands
    (storage/ implements it; a router's choice carries the loads it adds)."""

    async def hand_over(
        self, conn: AsyncConnection, from_agent_id: int | None, to_agent_id: int | None
    ) -> None:
        """An unresolved conversation leaves one agent for another, in the caller's
        transaction; None on either side is nobody (it was, or becomes, unassigned)."""
        ...
