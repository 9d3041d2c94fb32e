"""What a reply may carry on its channel, the customer's consent, and internal notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.errors import Conflict, Invalid
from timeline.events import Attachment
from timeline.models import Consent, Conversation, TimelineEvent

conversations = Conversation.__table__
consents = Consent.__table__
events = TimelineEvent.__table__


class ReplyCapabilities(Protocol):
    """What a channel can carry in a reply; a channel adapter's `Capabilities` has these."""

    @property
    def max_body_length(self) -> int | None: ...

    @property
    def html(self) -> bool: ...

    @property
    def max_outbound_file_bytes(self) -> int | None:
        """None: the channel sends no files."""
        ...


@dataclass(frozen=True, slots=True)
class ReplyDraft:
    """A reply as its author wrote it: text, an HTML version (sanitized before it is kept),
    files with their bytes."""

    body: str
    html: str | None = None
    attachments: Sequence[Attachment] = ()


def refuse_what_the_channel_cannot_carry(
    draft: ReplyDraft, capabilities: ReplyCapabilities
) -> None:
    """Invalid, naming the draft's field, when the channel cannot send it as written."""
    limit = capabilities.max_body_length
    if limit is not None and len(draft.body) > limit:
        raise Invalid({"body": f"longer than this channel's limit of {limit} characters"})
    if draft.html is not None and not capabilities.html:
        raise Invalid({"html": "this channel sends plain text only"})
    if not draft.attachments:
        return
    file_limit = capabilities.max_outbound_file_bytes
    if file_limit is None:
        raise Invalid({"attachments": "this channel cannot send files"})
    total = sum(attachment.size or 0 for attachment in draft.attachments)
    if total > file_limit:
        raise Invalid(
            {"attachments": f"{total} bytes of files; this channel sends at most {file_limit}"}
        )


async def refuse_if_opted_out(conn: AsyncConnection, conversation_id: int) -> None:
    """Conflict `opted_out` when the customer opted out of messages on the conversation's
    channel (STOP, say)."""
    row = (
        await conn.execute(
            select(consents.c.granted, consents.c.keyword)
            .join(
                conversations,
                (conversations.c.identity_id == consents.c.identity_id)
                & (conversations.c.channel_account_id == consents.c.channel_account_id),
            )
            .where(conversations.c.id == conversation_id)
        )
    ).first()
    if row is not None and not row.granted:
        raise Conflict(
            "opted_out", f"the customer opted out of messages on this channel ({row.keyword})"
        )


async def append_note(
    conn: AsyncConnection,
    *,
    workspace_id: int,
    customer_id: int,
    conversation_id: int,
    author_user_id: int,
    body: str,
) -> tuple[int, datetime]:
    """An internal note on the customer's timeline, seen by agents only; its event's id and
    time."""
    now = datetime.now(UTC)
    event_id = (
        await conn.execute(
            events.insert().returning(events.c.id),
            {
                "workspace_id": workspace_id,
                "customer_id": customer_id,
                "conversation_id": conversation_id,
                "kind": "note",
                "direction": "internal",
                "author_user_id": author_user_id,
                "body": body,
                "attachments": [],
                "meta": {},
                "occurred_at": now,
                "created_at": now,
            },
        )
    ).scalar_one()
    return event_id, now
