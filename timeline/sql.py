"""The few statements that differ between PostgreSQL and SQLite, behind one function each."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Insert, Select


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_ignoring_conflicts(conn: AsyncConnection, table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    dialect = postgresql if is_postgres(conn) else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def for_update(conn: AsyncConnection, query: Select[Any]) -> Select[Any]:
    """Row locks on PostgreSQL; SQLite serializes writers, so the query is returned as is."""
    return query.with_for_update() if is_postgres(conn) else query


async def lock_keys(conn: AsyncConnection, namespace: str, keys: Iterable[str]) -> None:
    """Take transaction-scoped advisory locks on keys, in a fixed order so batches never deadlock.

    SQLite needs none: the engine runs every write transaction on one connection.
    """
    if not is_postgres(conn):
        return
    ids = sorted({_lock_id(namespace, key) for key in keys})
    if ids:
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k"),
            {"ids": ids},
        )


def _lock_id(namespace: str, key: str) -> int:
    digest = hashlib.blake2b(f"{namespace}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def scalar_exists(conn: AsyncConnection, query: Select[Any]) -> bool:
    return (await conn.execute(select(query.exists()))).scalar_one()
