"""Finds the conversations inbound messages belong to."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from storage.sql import in_list
from timeline.models import Conversation

conversations = Conversation.__table__


@dataclass(frozen=True, slots=True)
class ChannelHandle:
    """A customer's identity on one channel account; its newest conversation there is current."""

    workspace_id: int
    identity_id: int
    channel_account_id: int


@dataclass(frozen=True, slots=True)
class ConversationRow:
    id: int
    workspace_id: int
    customer_id: int
    identity_id: int
    channel_account_id: int
    status: str
    assignee_id: int | None
    team_id: int | None
    resolved_at: datetime | None
    waiting_since: datetime | None


def newest_conversations(identity_ids: Select[tuple[int]]) -> Select[Any]:
    """The newest conversation of each thread of the identities `identity_ids` selects on the
    channel accounts in parameter `accounts` (a list), locked; `by_handle` keeps those asked for.

    The rows may include threads nobody asked for (another identity of the batch on another
    account): locking them is harmless since the caller holds every identity's lock. No
    workspace condition: identities belong to one workspace, and one on a column every row
    shares would lead a planner without statistics yet to scan the whole workspace.
    SQLite renders no FOR UPDATE: it serializes writers instead.
    """
    return (
        select(*[conversations.c[name] for name in ConversationRow.__dataclass_fields__])
        .where(
            conversations.c.id.in_(
                select(func.max(conversations.c.id))
                .where(conversations.c.identity_id.in_(identity_ids))
                .where(in_list(conversations.c.channel_account_id, "accounts"))
                .group_by(conversations.c.identity_id, conversations.c.channel_account_id)
            )
        )
        .with_for_update()
    )


def by_handle(
    rows: Iterable[Sequence[Any]], handles: Collection[ChannelHandle]
) -> dict[ChannelHandle, ConversationRow]:
    """The rows of `newest_conversations` (columns in ConversationRow's order) asked for."""
    found = (ConversationRow(*row) for row in rows)
    newest = {ChannelHandle(r.workspace_id, r.identity_id, r.channel_account_id): r for r in found}
    return {key: row for key, row in newest.items() if key in handles}
