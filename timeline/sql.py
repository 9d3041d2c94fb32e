"""The few statements that differ between PostgreSQL and SQLite, behind one function each."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Insert, Select


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_ignoring_conflicts(conn: AsyncConnection, table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect (built once per table)."""
    return _insert_ignoring_conflicts(is_postgres(conn), table)


@cache
def _insert_ignoring_conflicts(postgres: bool, table: Table) -> Insert:
    return (postgresql if postgres else sqlite).insert(table).on_conflict_do_nothing()


async def lock_keys(conn: AsyncConnection, keys: Iterable[tuple[str, str]]) -> None:
    """Take transaction-scoped advisory locks on (namespace, key) pairs, sorted: no deadlocks.

    Take them all in one call: two calls would each be sorted but not the two together. SQLite
    needs none: the engine runs every write transaction on one connection.
    """
    if not is_postgres(conn):
        return
    ids = sorted({_lock_id(namespace, key) for namespace, key in keys})
    if ids:
        await conn.execute(_LOCK_KEYS, {"ids": ids})


@asynccontextmanager
async def planned_for_actual_values(conn: AsyncConnection) -> AsyncIterator[None]:
    """Plan the lookups run inside for the keys they are given, every time (PostgreSQL).

    PostgreSQL soon reuses one generic plan per prepared statement. Made while a table was nearly
    empty, that plan may walk a whole index instead of seeking the few keys asked for, and it is
    kept as the table grows, until the next ANALYZE. Keyed lookups plan in microseconds; bulk
    writes do not, so only lookups belong inside.
    """
    if not is_postgres(conn):
        yield
        return
    await conn.execute(_CUSTOM_PLANS)
    yield
    await conn.execute(_AUTO_PLANS)


_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")
_AUTO_PLANS = text("SET LOCAL plan_cache_mode = auto")
_LOCK_KEYS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k")


def _lock_id(namespace: str, key: str) -> int:
    digest = hashlib.blake2b(f"{namespace}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def scalar_exists(conn: AsyncConnection, query: Select[Any]) -> bool:
    return (await conn.execute(select(query.exists()))).scalar_one()
