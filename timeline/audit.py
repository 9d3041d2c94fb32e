"""Writes audit log entries inside the transaction of the change they describe, each chained
to the one before it in its workspace's chain (timeline.audit_chain)."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import desc, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sql import lock_keys
from timeline.audit_chain import GENESIS_HASH, canonical_changes, chain_of, entry_hash
from timeline.models import AuditEntry

audit_log = AuditEntry.__table__


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the changes being made come from: an API request (its client's address and
    request id) or a CLI command (the operating-system user who ran it)."""

    client_address: str | None = None
    request_id: str | None = None
    os_user: str | None = None


NO_ORIGIN = Origin()
"""The hub's own doing (the scheduler's, say): no request, no command."""

_current_origin: ContextVar[Origin] = ContextVar("audit_origin", default=NO_ORIGIN)


class acting_from:
    """Every entry recorded inside the block (in this task and those it starts) carries
    `origin`: the API's middleware and the CLI set it once, and no service passes it around.

    A class rather than a generator-based context manager, which costs several times as much:
    the middleware enters it on every request (docs/performance.md)."""

    __slots__ = ("_origin", "_token")

    def __init__(self, origin: Origin) -> None:
        self._origin = origin

    def __enter__(self) -> None:
        self._token = _current_origin.set(self._origin)

    def __exit__(self, *_: object) -> None:
        _current_origin.reset(self._token)


def current_origin() -> Origin:
    """The origin `acting_from` set for the changes being made (NO_ORIGIN outside one)."""
    return _current_origin.get()


@dataclass(frozen=True, slots=True)
class Audited:
    """One change to record: who made it (None: the hub itself, or someone unknown), what, to
    which entity; in a workspace, or (None) in the hub's own chain."""

    workspace_id: int | None
    actor_user_id: int | None
    action: str
    entity_type: str
    entity_id: int | str
    changes: dict[str, Any] = field(default_factory=dict)


async def record(
    conn: AsyncConnection,
    *,
    workspace_id: int | None,
    actor_user_id: int | None,
    action: str,
    entity_type: str,
    entity_id: int | str,
    changes: dict[str, Any] | None = None,
    origin: Origin | None = None,
) -> None:
    await record_all(
        conn,
        [Audited(workspace_id, actor_user_id, action, entity_type, entity_id, changes or {})],
        origin=origin,
    )


async def record_all(
    conn: AsyncConnection, entries: Sequence[Audited], *, origin: Origin | None = None
) -> None:
    """Several changes in one statement (a sweep's, say), from `origin` (default: the one
    `acting_from` set).

    Each chain's writers take turns from here to their commit (an advisory lock of the chain's
    on PostgreSQL; SQLite has one writer), so that every entry names the hash of the entry
    committed before it, and ids and times ascend along the chain.
    """
    if not entries:
        return
    source = origin or current_origin()
    chains = {entry.workspace_id for entry in entries}
    await lock_keys(conn, [("audit", chain_of(chain)) for chain in chains])
    previous = {chain: await _chain_head(conn, chain) for chain in chains}
    at = datetime.now(UTC)
    rows = []
    for entry in entries:
        row: dict[str, Any] = {
            "workspace_id": entry.workspace_id,
            "actor_user_id": entry.actor_user_id,
            "action": entry.action,
            "entity_type": entry.entity_type,
            "entity_id": str(entry.entity_id),
            "changes": canonical_changes(entry.changes),
            "at": at,
            "client_address": source.client_address,
            "request_id": source.request_id,
            "os_user": source.os_user,
            "previous_hash": previous[entry.workspace_id],
        }
        row["entry_hash"] = previous[entry.workspace_id] = entry_hash(row)
        rows.append(row)
    await conn.execute(audit_log.insert(), rows)


async def _chain_head(conn: AsyncConnection, workspace_id: int | None) -> str:
    """The hash of the chain's newest entry (GENESIS_HASH for a chain with none)."""
    chain = (
        audit_log.c.workspace_id.is_(None)
        if workspace_id is None
        else audit_log.c.workspace_id == workspace_id
    )
    newest = select(audit_log.c.entry_hash).where(chain).order_by(desc(audit_log.c.id)).limit(1)
    return (await conn.execute(newest)).scalar_one_or_none() or GENESIS_HASH
