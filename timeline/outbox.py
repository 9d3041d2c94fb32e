"""The outbox: replies stored with their timeline event in one transaction, then claimed, sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.blobs import keep_files, kept_files
from timeline.delivery import advance_status, apply_known_receipts
from timeline.events import Attachment, DeliveryStatus, ExternalIdentity, IdentityKind
from timeline.models import Conversation, Identity, OutboundMessage, TimelineEvent
from timeline.storable import storable_external_id, storable_text

outbound = OutboundMessage.__table__
events = TimelineEvent.__table__
conversations = Conversation.__table__
identities = Identity.__table__

CLAIM_LEASE = timedelta(minutes=2)

_NOTICE_TEXT_GONE = "(this notice's text is not kept once it has been sent or has failed)"
_NOTICE_TEXT_FORGOTTEN = {
    "body": case((outbound.c.event_id.is_(None), _NOTICE_TEXT_GONE), else_=outbound.c.body)
}
"""A notice carries a secret (a password-reset link): once it is out of the outbox's hands its
text goes, so the database holds the link only while the message waits to be sent. A reply's
text stays: it is the conversation's."""


@dataclass(frozen=True, slots=True)
class QueuedReply:
    event_id: int
    message_id: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """An outbound message this worker holds the lease on and may now send."""

    id: int
    workspace_id: int
    event_id: int | None
    """None for a notice (no conversation, no timeline event)."""
    channel_account_id: int
    conversation_id: int | None
    recipient_kind: str
    recipient_value: str
    body: str
    subject: str | None
    attempts: int
    unfinished_attempt: bool = False
    """The attempt before this one claimed the message and never recorded an outcome (its
    worker stopped after calling the provider, perhaps): it may have been sent."""


_CLAIMED_COLUMNS = [
    name for name in ClaimedMessage.__dataclass_fields__ if name != "unfinished_attempt"
]


async def queue_reply(
    conn: AsyncConnection,
    *,
    workspace_id: int,
    conversation_id: int,
    author_user_id: int | None,
    body: str,
    html: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> QueuedReply:
    """Append the reply to the timeline and its outbox row, and mark the customer answered.

    Attachments' bytes go to the blob store in the same transaction; the send job reads them
    back from there (`reply_content`)."""
    now = datetime.now(UTC)
    conversation = (
        await conn.execute(
            select(
                conversations.c.customer_id,
                conversations.c.channel_account_id,
                identities.c.kind,
                identities.c.value,
            )
            .join(identities, identities.c.id == conversations.c.identity_id)
            .where(conversations.c.id == conversation_id)
        )
    ).one()
    event_id = (
        await conn.execute(
            events.insert().returning(events.c.id),
            {
                "workspace_id": workspace_id,
                "customer_id": conversation.customer_id,
                "conversation_id": conversation_id,
                "channel_account_id": conversation.channel_account_id,
                "kind": "message_sent",
                "direction": "outbound",
                "author_user_id": author_user_id,
                "body": body,
                "attachments": [attachment.metadata() for attachment in attachments],
                "meta": {"html": html} if html is not None else {},
                "occurred_at": now,
                "created_at": now,
            },
        )
    ).scalar_one()
    await keep_files(conn, [(workspace_id, event_id, attachments)])
    message_id = await _queue(
        conn,
        workspace_id=workspace_id,
        channel_account_id=conversation.channel_account_id,
        recipient=ExternalIdentity(IdentityKind(conversation.kind), conversation.value),
        body=body,
        now=now,
        event_id=event_id,
        conversation_id=conversation_id,
    )
    await conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(
            first_response_at=func.coalesce(conversations.c.first_response_at, now),
            waiting_since=None,
            last_message_at=now,
            messages_count=conversations.c.messages_count + 1,
            updated_at=now,
        )
    )
    return QueuedReply(event_id, message_id, now)


async def queue_notice(
    conn: AsyncConnection,
    *,
    workspace_id: int,
    channel_account_id: int,
    recipient: ExternalIdentity,
    subject: str,
    body: str,
) -> int:
    """An outbox row for mail the hub sends a member of the workspace, on no timeline; sent,
    retried and failed as replies are. Its id."""
    return await _queue(
        conn,
        workspace_id=workspace_id,
        channel_account_id=channel_account_id,
        recipient=recipient,
        body=body,
        now=datetime.now(UTC),
        subject=subject,
    )


async def _queue(
    conn: AsyncConnection,
    *,
    workspace_id: int,
    channel_account_id: int,
    recipient: ExternalIdentity,
    body: str,
    now: datetime,
    **about: object,
) -> int:
    """An outbox row due now (`about`: its event and conversation, or a notice's subject)."""
    return (
        await conn.execute(
            outbound.insert().returning(outbound.c.id),
            {
                "workspace_id": workspace_id,
                "channel_account_id": channel_account_id,
                "recipient_kind": recipient.kind,
                "recipient_value": recipient.value,
                "body": body,
                "status": DeliveryStatus.QUEUED,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
                **about,
            },
        )
    ).scalar_one()


@dataclass(frozen=True, slots=True)
class ReplyContent:
    """What a reply was written with besides its text: an HTML version, files with bytes."""

    html: str | None
    attachments: tuple[Attachment, ...]


NO_CONTENT = ReplyContent(html=None, attachments=())
"""A notice's: its text alone."""


async def reply_content(conn: AsyncConnection, workspace_id: int, event_id: int) -> ReplyContent:
    """The HTML and the files kept with a reply's timeline event."""
    row = (
        await conn.execute(
            select(events.c.meta, events.c.attachments)
            .where(events.c.id == event_id)
            .where(events.c.workspace_id == workspace_id)
        )
    ).one()
    files = await kept_files(conn, workspace_id, event_id, row.attachments)
    return ReplyContent(html=(row.meta or {}).get("html"), attachments=files)


async def claim(conn: AsyncConnection, message_id: int) -> ClaimedMessage | None:
    """Take the lease on a queued, due message; None if sent, failed, not due or leased.

    A lease that ran out is an attempt that never finished: recording any outcome clears it."""
    now = datetime.now(UTC)
    expired = (
        await conn.execute(select(outbound.c.claimed_until).where(outbound.c.id == message_id))
    ).scalar_one_or_none() is not None
    result = await conn.execute(
        update(outbound)
        .where(outbound.c.id == message_id)
        .where(outbound.c.status == DeliveryStatus.QUEUED)
        .where(outbound.c.external_id.is_(None))
        .where(outbound.c.next_attempt_at <= now)
        .where(or_(outbound.c.claimed_until.is_(None), outbound.c.claimed_until < now))
        .values(claimed_until=now + CLAIM_LEASE, attempts=outbound.c.attempts + 1, updated_at=now)
        .returning(*[outbound.c[name] for name in _CLAIMED_COLUMNS])
    )
    row = result.first()
    return ClaimedMessage(**row._mapping, unfinished_attempt=expired) if row else None


async def record_sent(
    conn: AsyncConnection, message: ClaimedMessage, external_id: str, status: DeliveryStatus
) -> None:
    """The provider took the message: keep its id (made storable, as the pipeline makes the
    ids of its status callbacks) and status, and apply receipts that came first."""
    external_id = storable_external_id(external_id)
    await conn.execute(
        update(outbound)
        .where(outbound.c.id == message.id)
        .values(
            external_id=external_id,
            claimed_until=None,
            updated_at=datetime.now(UTC),
            **_NOTICE_TEXT_FORGOTTEN,
        )
    )
    if status is not DeliveryStatus.QUEUED:
        await advance_status(conn, outbound.c.id == message.id, status=status)
    await apply_known_receipts(conn, message.channel_account_id, external_id)


async def record_retry(
    conn: AsyncConnection, message: ClaimedMessage, delay: timedelta, error: str
) -> None:
    now = datetime.now(UTC)
    await conn.execute(
        update(outbound)
        .where(outbound.c.id == message.id)
        .values(
            next_attempt_at=now + delay,
            claimed_until=None,
            error=storable_text(error),
            updated_at=now,
        )
    )


async def record_failure(conn: AsyncConnection, message: ClaimedMessage, reason: str) -> None:
    await conn.execute(
        update(outbound)
        .where(outbound.c.id == message.id)
        .values(claimed_until=None, updated_at=datetime.now(UTC), **_NOTICE_TEXT_FORGOTTEN)
    )
    await advance_status(
        conn, outbound.c.id == message.id, status=DeliveryStatus.FAILED, error=storable_text(reason)
    )


async def mark_unreachable(conn: AsyncConnection, message: ClaimedMessage, reason: str) -> None:
    """The message's recipient cannot be reached on its channel: say so on their identity."""
    await conn.execute(
        update(identities)
        .where(identities.c.workspace_id == message.workspace_id)
        .where(identities.c.kind == message.recipient_kind)
        .where(identities.c.value == message.recipient_value)
        .values(unreachable_reason=storable_text(reason)[:500], unreachable_since=datetime.now(UTC))
    )


async def due_message_ids(conn: AsyncConnection, limit: int = 500) -> list[int]:
    """Queued messages whose next attempt is due and that no worker holds."""
    now = datetime.now(UTC)
    rows = await conn.execute(
        select(outbound.c.id)
        .where(outbound.c.status == DeliveryStatus.QUEUED)
        .where(outbound.c.external_id.is_(None))
        .where(outbound.c.next_attempt_at <= now)
        .where(or_(outbound.c.claimed_until.is_(None), outbound.c.claimed_until < now))
        .order_by(outbound.c.next_attempt_at)
        .limit(limit)
    )
    return list(rows.scalars())
