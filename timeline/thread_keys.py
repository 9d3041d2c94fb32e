"""Reference threading: message ids replies name (In-Reply-To/References), reply and subject
tokens."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Select, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import insert_rows
from storage.sql import in_list
from timeline.events import EmailThreadRef
from timeline.models import Conversation, ThreadKey, TimelineEvent
from timeline.models.conversations import new_subject_token

keys_table = ThreadKey.__table__
conversations = Conversation.__table__
events = TimelineEvent.__table__


def _lookup(scope: Column[int], key: Column[str], conversation: Column[int]) -> Select[Any]:
    """(scope, key, conversation id) rows for the scopes and keys given as `scopes`, `keys`."""
    return (
        select(scope.label("scope"), key.label("key"), conversation.label("conversation_id"))
        .where(in_list(key, "keys"))
        .where(in_list(scope, "scopes"))
    )


_BY_KEY = _lookup(keys_table.c.channel_account_id, keys_table.c.key, keys_table.c.conversation_id)
_BY_TOKEN = _lookup(conversations.c.workspace_id, conversations.c.reply_token, conversations.c.id)
_BY_SUBJECT_TOKEN = _lookup(
    conversations.c.channel_account_id, conversations.c.subject_token, conversations.c.id
)


@dataclass(frozen=True, slots=True)
class ThreadKeyRow:
    workspace_id: int
    channel_account_id: int
    key: str
    conversation_id: int


def referenced_ids(ref: EmailThreadRef) -> list[str]:
    """The message ids a mail answers, most specific first: In-Reply-To, then References newest
    to oldest."""
    ordered = [*ref.in_reply_to, *reversed(ref.references)]
    return list(dict.fromkeys(key for key in ordered if key and key != ref.message_id))


async def conversations_by_key(
    conn: AsyncConnection, wanted: Collection[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    """(channel account, message id) -> conversation id, for the ids we know."""
    return await _conversations(conn, _BY_KEY, wanted)


async def conversations_by_token(
    conn: AsyncConnection, wanted: Collection[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    """(workspace, reply token) -> conversation id."""
    return await _conversations(conn, _BY_TOKEN, wanted)


async def conversations_by_subject_token(
    conn: AsyncConnection, wanted: Collection[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    """(channel account, subject token) -> conversation id: a token names a conversation only
    on the mailbox it was sent from, so one copied into another workspace's mail finds nothing."""
    return await _conversations(conn, _BY_SUBJECT_TOKEN, wanted)


async def _conversations(
    conn: AsyncConnection, lookup: Select[Any], wanted: Collection[tuple[int, str]]
) -> dict[tuple[int, str], int]:
    if not wanted:
        return {}
    rows = await conn.execute(
        lookup, {"scopes": list({s for s, _ in wanted}), "keys": list({k for _, k in wanted})}
    )
    found = {(row.scope, row.key): row.conversation_id for row in rows}
    return {pair: conversation for pair, conversation in found.items() if pair in wanted}


async def remember(conn: AsyncConnection, rows: list[ThreadKeyRow]) -> None:
    """Keep message ids (ours and the customer's) so replies naming them find their thread."""
    if rows:
        await insert_rows(
            conn,
            keys_table,
            [
                {
                    "workspace_id": r.workspace_id,
                    "channel_account_id": r.channel_account_id,
                    "key": r.key,
                    "conversation_id": r.conversation_id,
                }
                for r in rows
            ],
            ignore_conflicts=True,
        )


def thread_json(ref: EmailThreadRef) -> dict[str, object]:
    """An email thread ref as stored on its timeline event (replies are built from it)."""
    return {
        "message_id": ref.message_id,
        "in_reply_to": list(ref.in_reply_to),
        "references": list(ref.references),
        "subject": ref.subject,
    }


def thread_from_json(
    data: dict[str, object], *, reply_token: str | None, subject_token: str | None
) -> EmailThreadRef:
    return EmailThreadRef(
        message_id=data.get("message_id"),  # type: ignore[arg-type]
        in_reply_to=tuple(data.get("in_reply_to") or ()),  # type: ignore[arg-type]
        references=tuple(data.get("references") or ()),  # type: ignore[arg-type]
        subject=str(data.get("subject") or ""),
        reply_token=reply_token,
        subject_token=subject_token,
    )


async def thread_for_reply(conn: AsyncConnection, conversation_id: int) -> EmailThreadRef | None:
    """The thread of the customer's newest mail in a conversation, with its reply token and
    subject token; a conversation gets its subject token here, on its first reply."""
    row = (
        await conn.execute(
            select(events.c.meta, conversations.c.reply_token, conversations.c.subject_token)
            .join(conversations, conversations.c.id == events.c.conversation_id)
            .where(events.c.conversation_id == conversation_id)
            .where(events.c.direction == "inbound")
            .order_by(events.c.occurred_at.desc(), events.c.id.desc())
            .limit(1)
        )
    ).first()
    if row is None or "thread" not in row.meta:
        return None
    subject_token = row.subject_token or await _give_subject_token(conn, conversation_id)
    return thread_from_json(
        row.meta["thread"], reply_token=row.reply_token, subject_token=subject_token
    )


async def _give_subject_token(conn: AsyncConnection, conversation_id: int) -> str:
    """Set the conversation's subject token unless a concurrent reply just did; return it."""
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .where(conversations.c.subject_token.is_(None))
        .values(subject_token=new_subject_token())
    )
    query = select(conversations.c.subject_token).where(conversations.c.id == conversation_id)
    return (await conn.execute(query)).scalar_one()
