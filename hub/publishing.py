"""Hands the domain events of a committed change to the bus: how the API and the scheduler
publish what the core's services did."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from timeline.domain import DomainEvent

if TYPE_CHECKING:
    from hub.context import Hub


async def publish(hub: Hub, events: Sequence[DomainEvent]) -> None:
    """Call after the commit, never before: listeners must not hear of a change that a
    rollback then undid."""
    if events:
        await hub.bus.publish(list(events))
