"""Threading by keys: the conversations that messages' keys name, the keys a conversation
registers, and what a reply in a conversation answers. Keys are opaque: their kinds and values
are the adapters' business (timeline.events.ThreadKey)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import RowsInsert
from storage.sql import in_list
from timeline.events import ReplyReference, ThreadKey
from timeline.models import Conversation, ThreadKeyRecord, TimelineEvent
from timeline.threading import ConversationRow

keys_table = ThreadKeyRecord.__table__
conversations = Conversation.__table__
events = TimelineEvent.__table__

AccountKey = tuple[int, str, str]
"""(channel account, key kind, key value): where a key is unique."""

# One list per column, not one of triples (as for stored events); the caller keeps the rows
# it asked for. The conversations are locked like the other conversations a batch writes to.
_BY_KEY = (
    select(
        keys_table.c.channel_account_id.label("key_account"),
        keys_table.c.kind.label("key_kind"),
        keys_table.c.key,
        *[conversations.c[name] for name in ConversationRow.__dataclass_fields__],
    )
    .join(conversations, conversations.c.id == keys_table.c.conversation_id)
    .where(in_list(keys_table.c.key, "keys"))
    .where(in_list(keys_table.c.channel_account_id, "accounts"))
    .with_for_update(of=conversations)
)


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """Where a key is registered: the conversation it names and the message that carries it."""

    workspace_id: int
    channel_account_id: int
    conversation_id: int
    event_id: int | None


async def conversations_by_key(
    conn: AsyncConnection, wanted: Collection[tuple[int, ThreadKey]]
) -> dict[AccountKey, ConversationRow]:
    """The conversations that the keys asked for name, each key on its channel account."""
    if not wanted:
        return {}
    asked = {(account, key.kind, key.key) for account, key in wanted}
    rows = await conn.execute(
        _BY_KEY,
        {
            "keys": list({key for _, _, key in asked}),
            "accounts": list({account for account, _, _ in asked}),
        },
    )
    found: dict[AccountKey, ConversationRow] = {}
    for row in rows:
        pair = (row.key_account, row.key_kind, row.key)
        if pair in asked:
            found[pair] = ConversationRow(*row[3:])
    return found


def key_rows(registered: Iterable[tuple[KeyOwner, ThreadKey]]) -> RowsInsert:
    """The keys to register, each once (the first owner keeps it, as the table does)."""
    rows: dict[AccountKey, dict[str, object]] = {}
    for owner, key in registered:
        rows.setdefault(
            (owner.channel_account_id, key.kind, key.key),
            {
                "channel_account_id": owner.channel_account_id,
                "kind": key.kind,
                "key": key.key,
                "workspace_id": owner.workspace_id,
                "conversation_id": owner.conversation_id,
                "event_id": owner.event_id,
                "reply_context": key.reply_context,
            },
        )
    return RowsInsert(keys_table, list(rows.values()), ignore_conflicts=True)


async def move_keys(conn: AsyncConnection, owned: Iterable[tuple[KeyOwner, ThreadKey]]) -> None:
    """Give keys already registered to a new owner (a place's key following its newest
    conversation: timeline.ingest_plan's moved keys)."""
    for owner, key in owned:
        await conn.execute(
            update(keys_table)
            .where(keys_table.c.channel_account_id == owner.channel_account_id)
            .where(keys_table.c.kind == key.kind)
            .where(keys_table.c.key == key.key)
            .values(
                conversation_id=owner.conversation_id,
                event_id=owner.event_id,
                reply_context=key.reply_context,
            )
        )


async def remember(conn: AsyncConnection, registered: Iterable[tuple[KeyOwner, ThreadKey]]) -> None:
    """Register keys on their own (our sent messages' and the tokens minted for them)."""
    await key_rows(registered).insert(conn)


async def reply_reference(conn: AsyncConnection, conversation_id: int) -> ReplyReference:
    """What a reply in the conversation answers: the customer's newest message (its keys and
    subject) and the conversation's own keys."""
    newest = (
        await conn.execute(
            select(events.c.id, events.c.subject)
            .where(events.c.conversation_id == conversation_id)
            .where(events.c.direction == "inbound")
            .order_by(events.c.occurred_at.desc(), events.c.id.desc())
            .limit(1)
        )
    ).first()
    newest_id = newest.id if newest is not None else None
    rows = await conn.execute(
        select(
            keys_table.c.kind, keys_table.c.key, keys_table.c.event_id, keys_table.c.reply_context
        )
        .where(keys_table.c.conversation_id == conversation_id)
        .where(or_(keys_table.c.event_id.is_(None), keys_table.c.event_id == newest_id))
        .order_by(keys_table.c.kind, keys_table.c.key)
    )
    answering: list[ThreadKey] = []
    own: list[ThreadKey] = []
    for row in rows:
        key = ThreadKey(row.kind, row.key, row.reply_context)
        (own if row.event_id is None else answering).append(key)
    return ReplyReference(
        answering=tuple(answering),
        conversation=tuple(own),
        subject=newest.subject if newest is not None else None,
    )
