"""The audit log's hash chain: what an entry's hash covers, and the walk that checks it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.models import AuditEntry

GENESIS_HASH = "0" * 64
"""The previous hash of a chain's very first entry."""

HASHED_COLUMNS = (
    "workspace_id",
    "actor_user_id",
    "action",
    "entity_type",
    "entity_id",
    "changes",
    "at",
    "client_address",
    "request_id",
    "os_user",
    "previous_hash",
)
"""Everything an entry says, and the hash of the entry before it; not its id, which the
database draws after the hash is made."""

audit_log = AuditEntry.__table__
_WALK_BATCH = 1000


def canonical_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """`changes` as the database gives it back (JSON: tuples become lists, enums text)."""
    return json.loads(json.dumps(dict(changes)))


def entry_hash(entry: Mapping[str, Any]) -> str:
    """SHA-256 of the entry's hashed columns as canonical JSON (sorted keys, the time as ISO
    8601 in UTC to the microsecond)."""
    content = {name: entry[name] for name in HASHED_COLUMNS}
    at: datetime = content["at"]
    content["at"] = at.isoformat(timespec="microseconds")
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def chain_of(workspace_id: int | None) -> str:
    """The name of the chain an entry belongs to: its workspace's, or the hub's own."""
    return "hub" if workspace_id is None else f"workspace {workspace_id}"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first entry at which a chain stops verifying, and what is wrong there."""

    entry_id: int
    chain: str
    problem: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of walking every chain: entries checked, each chain's newest hash, and the
    first break found (None: every kept entry is as it was written)."""

    entries: int
    heads: dict[str, str]
    broken: ChainBreak | None


async def verify_chains(conn: AsyncConnection) -> Verification:
    """Walk every chain in id order (the order it was written in). Each chain starts at its
    oldest kept entry's stored previous hash (older entries may have expired by retention);
    from there every entry must hash to its stored hash, and name its predecessor's hash."""
    heads: dict[str, str] = {}
    last_ids: dict[str, int] = {}
    count = 0
    async for entry in _entries(conn):
        count += 1
        chain = chain_of(entry["workspace_id"])
        expected_previous = heads.get(chain, entry["previous_hash"])
        if entry["previous_hash"] != expected_previous:
            after = last_ids[chain]
            problem = (
                f"does not follow entry #{after}: an entry between #{after} and "
                f"#{entry['id']} was deleted, or #{after} was changed and its hash rewritten"
            )
            return Verification(count, heads, ChainBreak(entry["id"], chain, problem))
        if entry_hash(entry) != entry["entry_hash"]:
            problem = "was changed after it was written (its content no longer matches its hash)"
            return Verification(count, heads, ChainBreak(entry["id"], chain, problem))
        heads[chain] = entry["entry_hash"]
        last_ids[chain] = entry["id"]
    return Verification(count, heads, None)


async def _entries(conn: AsyncConnection) -> AsyncIterator[Mapping[str, Any]]:
    """Every entry in id order, read in batches by keyset (a log of millions fits nowhere)."""
    after = 0
    while True:
        rows = (
            await conn.execute(
                select(audit_log)
                .where(audit_log.c.id > after)
                .order_by(audit_log.c.id)
                .limit(_WALK_BATCH)
            )
        ).mappings()
        batch = list(rows)
        for row in batch:
            yield row
        if len(batch) < _WALK_BATCH:
            return
        after = batch[-1]["id"]
