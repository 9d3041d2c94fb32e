"""Finds the conversations inbound messages belong to."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.models import Conversation
from timeline.sql import fetch_rows, in_list

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


# One list per column (PostgreSQL plans a list of pairs slowly). The rows may include
# threads nobody asked for (another identity of the batch on another account): they are dropped,
# and locking them is harmless since the caller holds every identity's lock. No workspace
# condition: identities belong to one workspace, and one on a column every row shares would lead
# a planner without statistics yet to scan the whole workspace.
# SQLite renders no FOR UPDATE: it serializes writers instead.
_NEWEST = (
    select(*[conversations.c[name] for name in ConversationRow.__dataclass_fields__])
    .where(
        conversations.c.id.in_(
            select(func.max(conversations.c.id))
            .where(in_list(conversations.c.identity_id, "identities"))
            .where(in_list(conversations.c.channel_account_id, "accounts"))
            .group_by(conversations.c.identity_id, conversations.c.channel_account_id)
        )
    )
    .with_for_update()
)


async def find_conversations(
    conn: AsyncConnection, keys: Collection[ChannelHandle]
) -> dict[ChannelHandle, ConversationRow]:
    """The newest conversation of each thread that has one, locked.

    Callers hold the identities' locks, so the answers cannot change before they commit.
    """
    if not keys:
        return {}
    rows = await fetch_rows(
        conn,
        _NEWEST,
        {
            "identities": list({k.identity_id for k in keys}),
            "accounts": list({k.channel_account_id for k in keys}),
        },
    )
    found = (ConversationRow(*row) for row in rows)  # columns in field order
    newest = {ChannelHandle(r.workspace_id, r.identity_id, r.channel_account_id): r for r in found}
    return {key: row for key, row in newest.items() if key in keys}


_BY_ID = (
    select(*[conversations.c[name] for name in ConversationRow.__dataclass_fields__])
    .where(conversations.c.id.in_(bindparam("ids", expanding=True)))
    .with_for_update()
)


async def conversations_by_id(
    conn: AsyncConnection, ids: Collection[int]
) -> dict[int, ConversationRow]:
    """Conversations found through references or reply tokens, locked like the newest ones."""
    if not ids:
        return {}
    rows = await conn.execute(_BY_ID, {"ids": list(ids)})
    return {row.id: ConversationRow(**row._mapping) for row in rows}
