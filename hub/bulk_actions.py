"""Bulk actions: one conversation-service operation on many conversations, each in its own
change (its record rules, audit entry and domain events exactly the single action's), so that
one refused or failing item never blocks the others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from hub.errors import REFUSALS, refusal_error
from hub.publishing import change
from timeline.actor import Actor
from timeline.conversation_service import Changed, ConversationService
from timeline.policy import Permission, missing_permission

if TYPE_CHECKING:
    from hub.context import Hub

Operation = Callable[[ConversationService, AsyncConnection, Actor, int], Awaitable[Changed]]
"""One of the service's operations on a conversation, its other arguments given."""

MAX_BULK_ITEMS = 500
"""The most conversations one bulk action names."""


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What became of one conversation: done (`code` None), or the refusal the single action
    would have answered (its HTTP status, code and message)."""

    conversation_id: int
    status: int = 200
    code: str | None = None
    message: str | None = None


async def act_on_each(
    hub: Hub, actor: Actor, operation: Operation, conversation_ids: Iterable[int]
) -> list[ItemOutcome]:
    """Run `operation` on each conversation (repeats once), in order, each in a transaction of
    its own that logs and publishes what it caused; needs bulk_actions, and each item the
    permissions and record rules of the operation itself."""
    if not actor.may(Permission.BULK_ACTIONS):
        raise missing_permission(Permission.BULK_ACTIONS)
    outcomes = []
    for conversation_id in dict.fromkeys(conversation_ids):
        try:
            async with change(hub) as changing:
                changing.caused(
                    await operation(hub.conversations, changing.conn, actor, conversation_id)
                )
        except REFUSALS as refusal:
            error = refusal_error(refusal)
            outcomes.append(ItemOutcome(conversation_id, error.status, error.code, error.message))
        else:
            outcomes.append(ItemOutcome(conversation_id))
    return outcomes
