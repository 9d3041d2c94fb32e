"""Finds the conversation an inbound message belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.events import ThreadRef
from timeline.models import Conversation
from timeline.sql import for_update

conversations = Conversation.__table__


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


async def find_conversation(
    conn: AsyncConnection,
    workspace_id: int,
    identity_id: int,
    channel_account_id: int,
    thread_ref: ThreadRef | None,
) -> ConversationRow | None:
    """The newest conversation with this customer handle on this channel account, locked.

    Callers hold the identity's lock, so the answer cannot change before they commit.
    """
    query = (
        select(*[conversations.c[name] for name in ConversationRow.__dataclass_fields__])
        .where(conversations.c.workspace_id == workspace_id)
        .where(conversations.c.identity_id == identity_id)
        .where(conversations.c.channel_account_id == channel_account_id)
        .order_by(conversations.c.id.desc())
        .limit(1)
    )
    row = (await conn.execute(for_update(conn, query))).first()
    return ConversationRow(**row._mapping) if row else None
