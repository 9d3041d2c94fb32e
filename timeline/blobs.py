"""Attachment bytes into the blob store with the events that carry them, and back out per workspace.

The pipeline calls `store_attachments` inside its transaction, so an event and its files commit
together. Bytes are kept once per sha256 digest (a file sent a hundred times is stored once);
each event's attachment gets a reference row carrying the event's workspace, and
`attachment_content` reads only through such a row of the caller's workspace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.bulk import insert_rows
from storage.sql import in_list, insert_ignoring_conflicts
from timeline.events import Attachment, InboundEvent, MessageReceived
from timeline.models import Blob, EventAttachment, TimelineEvent

blobs = Blob.__table__
references = EventAttachment.__table__
events = TimelineEvent.__table__


class BlobStore(Protocol):
    """Bytes by sha256 digest, written and read inside the caller's transaction."""

    async def put(self, conn: AsyncConnection, contents: Mapping[str, bytes]) -> None:
        """Keep these bytes (digest -> bytes); digests already kept are left alone."""

    async def get(self, conn: AsyncConnection, digest: str) -> bytes | None: ...

    async def get_many(self, conn: AsyncConnection, digests: Sequence[str]) -> dict[str, bytes]:
        """digest -> bytes for the digests kept; the others are absent."""


class DatabaseBlobStore:
    """The `blobs` table: one row per digest; bytes already stored are not sent again."""

    async def put(self, conn: AsyncConnection, contents: Mapping[str, bytes]) -> None:
        if not contents:
            return
        rows = await conn.execute(
            select(blobs.c.digest).where(in_list(blobs.c.digest, "digests")),
            {"digests": list(contents)},
        )
        missing = contents.keys() - set(rows.scalars())
        if missing:
            await conn.execute(
                insert_ignoring_conflicts(conn, blobs),
                [{"digest": d, "size": len(contents[d]), "content": contents[d]} for d in missing],
            )

    async def get(self, conn: AsyncConnection, digest: str) -> bytes | None:
        query = select(blobs.c.content).where(blobs.c.digest == digest)
        return (await conn.execute(query)).scalar_one_or_none()

    async def get_many(self, conn: AsyncConnection, digests: Sequence[str]) -> dict[str, bytes]:
        if not digests:
            return {}
        rows = await conn.execute(
            select(blobs.c.digest, blobs.c.content).where(in_list(blobs.c.digest, "digests")),
            {"digests": list(set(digests))},
        )
        return {digest: content for digest, content in rows}


DATABASE_BLOBS = DatabaseBlobStore()


async def store_attachments(
    conn: AsyncConnection,
    appended: Sequence[tuple[int, InboundEvent]],
    event_ids: Sequence[int],
    store: BlobStore = DATABASE_BLOBS,
) -> None:
    """Keep the bytes the batch's messages carry, referenced by (event, position).

    `appended` is (workspace id, event) in the order the events were appended as `event_ids`.
    """
    await keep_files(
        conn,
        [
            (workspace_id, event_id, event.attachments)
            for (workspace_id, event), event_id in zip(appended, event_ids, strict=True)
            if isinstance(event, MessageReceived)
        ],
        store,
    )


async def keep_files(
    conn: AsyncConnection,
    files: Sequence[tuple[int, int, Sequence[Attachment]]],
    store: BlobStore = DATABASE_BLOBS,
) -> None:
    """Keep the bytes of each (workspace id, event id, attachments) that came with them."""
    contents: dict[str, bytes] = {}
    rows: list[dict[str, Any]] = []
    for workspace_id, event_id, attachments in files:
        for position, attachment in enumerate(attachments):
            if attachment.content is None:
                continue
            digest = hashlib.sha256(attachment.content).hexdigest()
            contents[digest] = attachment.content
            rows.append(
                {
                    "event_id": event_id,
                    "position": position,
                    "workspace_id": workspace_id,
                    "digest": digest,
                }
            )
    if rows:
        await store.put(conn, contents)
        await insert_rows(conn, references, rows)


async def kept_files(
    conn: AsyncConnection,
    workspace_id: int,
    event_id: int,
    metadata: Sequence[Mapping[str, Any]],
    store: BlobStore = DATABASE_BLOBS,
) -> tuple[Attachment, ...]:
    """The event's attachments (`metadata`: what the event keeps of them) whose bytes are kept,
    with their bytes, in position order."""
    if not metadata:
        return ()
    kept = (
        await conn.execute(
            select(references.c.position, references.c.digest)
            .where(references.c.event_id == event_id)
            .where(references.c.workspace_id == workspace_id)
            .order_by(references.c.position)
        )
    ).all()
    contents = await store.get_many(conn, [digest for _, digest in kept])
    return tuple(
        Attachment(
            filename=str(metadata[position]["filename"]),
            content_type=str(metadata[position]["content_type"]),
            size=metadata[position].get("size"),
            content_id=metadata[position].get("content_id"),
            digest=digest,
            content=contents.get(digest),  # missing bytes fail the send, visibly, not silently
        )
        for position, digest in kept
    )


@dataclass(frozen=True, slots=True)
class AttachmentFile:
    """One attachment of an event, as a download: its name, type and bytes."""

    filename: str
    content_type: str
    content: bytes


class AttachmentNotKept(LookupError):
    """The event has this attachment, but its bytes were not kept (see `reason`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def attachment_content(
    conn: AsyncConnection,
    workspace_id: int,
    event_id: int,
    position: int,
    store: BlobStore = DATABASE_BLOBS,
) -> AttachmentFile | None:
    """The `position`-th attachment of an event of this workspace; None when there is no such
    event or attachment in the workspace. Raises AttachmentNotKept when only its metadata is."""
    row = (
        await conn.execute(
            select(events.c.attachments, references.c.digest)
            .outerjoin(
                references,
                (references.c.event_id == events.c.id)
                & (references.c.position == position)
                & (references.c.workspace_id == workspace_id),
            )
            .where(events.c.id == event_id)
            .where(events.c.workspace_id == workspace_id)
        )
    ).first()
    if row is None or not 0 <= position < len(row.attachments):
        return None
    meta = row.attachments[position]
    content = await store.get(conn, row.digest) if row.digest is not None else None
    if content is None:
        raise AttachmentNotKept(_why_not_kept(meta))
    return AttachmentFile(str(meta["filename"]), str(meta["content_type"]), content)


def _why_not_kept(meta: Mapping[str, Any]) -> str:
    if meta.get("too_large"):
        return "its bytes were over the channel's attachment size limit (the raw message has them)"
    if meta.get("url"):
        return "the provider holds its bytes at its url"
    return "its bytes were not received"
