"""Creates the async engine: a connection pool on PostgreSQL, one serialized writer on SQLite.

PostgreSQL plans every statement for the values it is given (`plan_cache_mode =
force_custom_plan`): after a few runs it would otherwise keep one generic plan per prepared
statement, and one made while a table was nearly empty walks a whole index instead of seeking
the few keys a lookup asks for, until the next ANALYZE. The ingest's transactions, where
planning every statement (and every foreign-key check) would cost more than running it, plan
otherwise: `storage.sql.KEYED_PLANS`.

Connections also price a random page read like a sequential one, nearly (`random_page_cost =
1.1`, the usual setting for data on SSDs or in memory). PostgreSQL's default of 4 models
spinning disks: with it, a table of a few thousand rows is scanned whole rather than probed 30
times through its index, which made the ingest's keyed updates and lookups several times
slower.

Connections are not pinged at checkout: with asyncpg a ping is three round trips (BEGIN, an
empty query, ROLLBACK), paid by every batch and every API call. A connection the server dropped
fails its first statement instead (the ingest's BEGIN, `storage.sql.write_transaction`); the
pool's connections are then discarded, the ingest pipeline runs the batch once more on a fresh
one, and an API call answers 500 once. Pooled
connections are replaced after RECYCLE_SECONDS, well within common idle timeouts.

Read-only work uses `read_only(engine)`: the same pool in autocommit mode, which saves the
BEGIN and ROLLBACK round trips around a few SELECTs.
"""

from __future__ import annotations

import contextlib
import os

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

RECYCLE_SECONDS = 1800
SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan", "random_page_cost": "1.1"}
"""Sent with each new PostgreSQL connection: no round trip of their own."""


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The engine in autocommit mode, for blocks that only read (each statement sees the latest
    committed data; use `engine` where several reads must agree or anything is written).

    SQLite's driver begins no transaction before a SELECT anyway, so there the engine is used
    as it is: setting and resetting the isolation level on every checkout would add two awaits
    to each read, and a task cancelled inside one (a stream whose client left) lost the pooled
    connection, SQLite's only one."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def create_engine(database_url: str, *, pool_size: int = 20) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        _create_private_file(database_url.split(":///", 1)[-1])
        engine = create_async_engine(
            database_url, pool_size=1, max_overflow=0, pool_timeout=60, connect_args={"timeout": 30}
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=RECYCLE_SECONDS,
        connect_args={"server_settings": SERVER_SETTINGS},
    )


def _create_private_file(path: str) -> None:
    """Create a missing database file readable by its owner only: SQLite gives its journal and
    WAL files the database file's permissions."""
    if path and path != ":memory:" and not os.path.exists(path):
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    """WAL for concurrent readers, enforced foreign keys, durable commits."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL", "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
