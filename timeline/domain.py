"""Domain events the hub publishes after a commit, and the Protocols the core depends on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import UpdateRows


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """Something that happened, for realtime fan-out, automation and webhooks."""

    workspace_id: int
    type: str
    data: dict[str, Any] = field(default_factory=dict)


class DomainEventPublisher(Protocol):
    async def publish(self, events: list[DomainEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class RoutingRequest:
    """A conversation that needs an agent; the previous one is preferred when still free."""

    workspace_id: int
    conversation_id: int
    team_id: int | None = None
    preferred_agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class RoutingNeed:
    """An agent wanted from a workspace's pool (or a team's), for a conversation that may not
    be stored yet; the previous agent is preferred when still free."""

    workspace_id: int
    team_id: int | None = None
    preferred_agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class RoutingChoice:
    """What the router chose, for the caller to write in its transaction."""

    agents: list[int | None]
    """The agent for each need, in order; None where nobody was free."""
    writes: list[UpdateRows]
    """The router's own rows to update (its cursors, the agents' loads) before the caller
    commits; they never touch conversations."""


@dataclass(frozen=True, slots=True)
class Assignment:
    conversation_id: int
    agent_id: int


class Router(Protocol):
    """Assigns conversations inside the caller's transaction (routing/ implements it)."""

    async def route(
        self, conn: AsyncConnection, requests: list[RoutingRequest]
    ) -> list[Assignment]:
        """Choose agents for stored conversations and write the assignments."""
        ...

    async def choose(self, conn: AsyncConnection, needs: list[RoutingNeed]) -> RoutingChoice:
        """Choose agents, locking what keeps concurrent choices apart until the caller commits;
        the caller writes the assignments and `writes`."""
        ...


class AgentLoad(Protocol):
    """Keeps each agent's count of unresolved conversations (routing/ implements it; the
    router counts the assignments it makes itself)."""

    async def hand_over(
        self, conn: AsyncConnection, from_agent_id: int | None, to_agent_id: int | None
    ) -> None:
        """An unresolved conversation leaves one agent for another, in the caller's
        transaction; None on either side is nobody (it was, or becomes, unassigned)."""
        ...
