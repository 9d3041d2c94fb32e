"""Creates the async engine: a connection pool on PostgreSQL, one serialized writer on SQLite.

PostgreSQL plans every statement for the values it is given (`plan_cache_mode =
force_custom_plan`): after a few runs it would otherwise keep one generic plan per prepared
statement, and one made while a table was nearly empty walks a whole index instead of seeking
the few keys a lookup asks for, until the next ANALYZE. Keyed lookups and the ingest's
array-based writes (timeline/bulk.py) plan in microseconds. Foreign-key checks do not belong
here: PostgreSQL runs one per written row and key, so the ingest's inserts run inside
`timeline.sql.reusing_plans`, where plans are cached as by default.

Connections are not pinged at checkout: with asyncpg a ping is three round trips (BEGIN, an
empty query, ROLLBACK), paid by every batch and every API call. A connection the server dropped
fails its first statement instead; SQLAlchemy then discards the pool's connections, the
ingest pipeline runs the batch once more on a fresh one, and an API call answers 500 once. Pooled
connections are replaced after RECYCLE_SECONDS, well within common idle timeouts.

Read-only work uses `read_only(engine)`: the same pool in autocommit mode, which saves the
BEGIN and ROLLBACK round trips around a few SELECTs.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

RECYCLE_SECONDS = 1800


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The engine in autocommit mode, for blocks that only read (each statement sees the latest
    committed data; use `engine` where several reads must agree or anything is written)."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def create_engine(database_url: str, *, pool_size: int = 20) -> AsyncEngine:
    if database_url.startswith("sqlite"):
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
        connect_args={"server_settings": {"plan_cache_mode": "force_custom_plan"}},
    )


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _: ConnectionPoolEntry) -> None:
    """WAL for concurrent readers, enforced foreign keys, durable commits."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=FULL", "busy_timeout=30000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
