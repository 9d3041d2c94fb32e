"""The few statements that differ between PostgreSQL and SQLite, behind one function each."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import asyncpg
from sqlalchemy import Boolean, Select, Table, Text, TypeDecorator, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import Executable, Insert, sqltypes
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def fetch_rows(
    conn: AsyncConnection, statement: Executable, params: Mapping[str, Any] | None = None
) -> Sequence[Sequence[Any]]:
    """Execute `statement`; its rows (if any) as sequences, columns in the statement's order.

    On PostgreSQL, inside a transaction that has begun (asyncpg says whether), the statement
    goes to asyncpg directly, compiled once by SQLAlchemy with its parameters' bind processing:
    SQLAlchemy's execution around a statement costs about as much CPU as the driver's own work,
    and a batch of the ingest runs several statements. Outside one (the first
    statement of an `engine.begin()` block, which SQLAlchemy begins) and on SQLite, the
    statement goes through SQLAlchemy; `write_transaction` begins on the driver itself. Rows come
    without SQLAlchemy's result processing, so statements given here select only columns the
    driver already returns as Python wants them (integers, text, tz-aware timestamps).
    """
    if is_postgres(conn):
        driver = _driver_in_transaction(conn)
        if driver is not None:
            compiled = _for_driver(statement, conn.dialect)
            return await driver.fetch(compiled.sql, *compiled.arguments(params or {}))
    result = await conn.execute(statement, params)
    return result.all() if result.returns_rows else []


def _driver_in_transaction(conn: AsyncConnection) -> Any | None:
    """The asyncpg connection under `conn` if a transaction has begun on it, else None."""
    driver = _driver(conn)
    return driver if driver is not None and driver.is_in_transaction() else None


def _driver(conn: AsyncConnection) -> Any | None:
    adapted = conn.sync_connection.connection.dbapi_connection if conn.sync_connection else None
    return None if adapted is None else adapted.driver_connection


async def fetch_together(
    conn: AsyncConnection, statements: Sequence[Select[Any]], params: Mapping[str, Any]
) -> list[Sequence[Sequence[Any]]]:
    """The rows of each statement, as `fetch_rows` gives them; on PostgreSQL in one round trip.

    There the statements become one, each an array of its rows as records (`ARRAY(SELECT
    ROW(...) ...)`), so they must share one set of parameters, and one may read another's CTE
    (it is then computed once). Elsewhere they run one after another.
    """
    if is_postgres(conn):
        ((*arrays,),) = await fetch_rows(conn, _together(tuple(statements)), params)
        return [rows or [] for rows in arrays]
    return [await fetch_rows(conn, statement, params) for statement in statements]


@cache
def _together(statements: tuple[Select[Any], ...]) -> Select[Any]:
    arrays = []
    for statement in statements:
        rows = statement.subquery()
        records = select(func.row(*rows.c)).select_from(rows).scalar_subquery()
        arrays.append(func.array(records))
    return select(*arrays)


_REFUSED_DATA_CLASSES = ("22", "23", "54")
"""PostgreSQL's SQLSTATE classes for data it refuses: data exceptions (a value out of range, a
NUL in text), integrity violations, program limits exceeded (an index row too large)."""


def refusal(error: BaseException) -> str | None:
    """Why the database (or its driver, binding a value) refused the data written, if it did
    and would again; None for anything that may pass (a lost connection, a deadlock, a
    timeout). The reason is the driver's own message, without SQLAlchemy's statement and
    parameters."""
    for cause in _causes(error):
        if isinstance(cause, asyncpg.PostgresError):
            if (cause.sqlstate or "")[:2] in _REFUSED_DATA_CLASSES:
                return f"{cause.sqlstate}: {cause}"
            return None
        if isinstance(cause, OverflowError | sqlite3.IntegrityError | sqlite3.DataError):
            return f"{type(cause).__name__}: {cause}"
    return None


_UNREACHABLE = (
    asyncpg.PostgresConnectionError
    | asyncpg.CannotConnectNowError
    | asyncpg.TooManyConnectionsError
)
"""Not asyncpg's InterfaceError: its DataError (a value the driver cannot encode) is one."""


def out_of_reach(error: BaseException) -> bool:
    """Whether the database (or another service the hub talks to) could not be reached: a
    connection refused, lost or timed out, or one the server would not accept now; what passes
    once it is back, unlike a refusal of the data."""
    return any(
        isinstance(cause, OSError | _UNREACHABLE) or getattr(cause, "connection_invalidated", False)
        for cause in _causes(error)
    )


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps: SQLAlchemy's `orig`, then the driver's own exception."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(
            e
            for e in (getattr(current, "orig", None), current.__cause__, current.__context__)
            if isinstance(e, BaseException)
        )


class ConnectionLost(Exception):
    """The database connection failed before the transaction began; nothing was written."""


class KeptConnection:
    """A pooled connection that one task keeps for its write transactions, one after another.

    Each transaction then skips the pool's checkout and return, which cost more CPU than its
    BEGIN and COMMIT on the driver. The connection goes back to the pool and a fresh
    one is taken every `keep_seconds` (and after a failure), so the pool's own policy, such as
    replacing old connections, still applies. PostgreSQL only: elsewhere transactions take a
    connection each as usual.
    """

    def __init__(self, engine: AsyncEngine, keep_seconds: float = 60.0) -> None:
        self.engine = engine
        self._keep_seconds = keep_seconds
        self._conn: AsyncConnection | None = None
        self._taken_at = 0.0

    async def connection(self) -> AsyncConnection:
        conn = self._conn
        if conn is not None and (
            conn.invalidated
            or conn.closed
            or time.monotonic() - self._taken_at > self._keep_seconds
        ):
            await self.close()
        if self._conn is None:
            self._conn = await _autocommit(self.engine).connect()
            self._taken_at = time.monotonic()
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


def _autocommit(engine: AsyncEngine) -> AsyncEngine:
    return engine.execution_options(isolation_level="AUTOCOMMIT")


@asynccontextmanager
async def write_transaction(
    source: AsyncEngine | KeptConnection, *, locks: Iterable[tuple[str, str]] = ()
) -> AsyncIterator[AsyncConnection]:
    """A connection inside a transaction that commits when the block ends, rolls back if it
    raises; the advisory locks on `locks` (as `lock_keys` takes them) are held from the start,
    and statements plan as KEYED_PLANS says.

    The connection comes from the engine's pool, or is the one `source` keeps. On PostgreSQL
    the transaction is begun and ended on asyncpg directly, around a connection SQLAlchemy
    holds in autocommit mode (so it begins nothing of its own): SQLAlchemy's bookkeeping around
    a begin and a commit costs more CPU than the driver's own, and the ingest runs one
    transaction per batch. The BEGIN, the
    planning settings and the locks go in one round trip (the lock ids are integers, written
    into the statement).
    Elsewhere it is `engine.begin()`, and SQLite needs no locks. A connection the server
    dropped fails the opening: the pool's connections are replaced and ConnectionLost raised,
    so the caller may retry.
    """
    engine = source.engine if isinstance(source, KeptConnection) else source
    if engine.dialect.name != "postgresql":
        async with engine.begin() as conn:
            yield conn
    elif isinstance(source, KeptConnection):
        async with _on_driver(await source.connection(), engine, locks) as conn:
            yield conn
    else:
        async with (
            _autocommit(engine).connect() as pooled,
            _on_driver(pooled, engine, locks) as conn,
        ):
            yield conn


@asynccontextmanager
async def _on_driver(
    conn: AsyncConnection, engine: AsyncEngine, locks: Iterable[tuple[str, str]]
) -> AsyncIterator[AsyncConnection]:
    driver = _driver(conn)
    assert driver is not None
    try:
        await driver.execute(_opening(_lock_ids(locks)))
    except Exception as error:
        if not _connection_failed(driver, error):
            await _roll_back(conn, driver)
            raise
        # As SQLAlchemy does on a disconnect: the server most likely dropped the pool's other
        # connections too (a restart), so they are all replaced.
        await conn.invalidate()
        await engine.dispose()
        raise ConnectionLost(f"{type(error).__name__}: {error}") from error
    try:
        yield conn
    except BaseException:
        await _roll_back(conn, driver)
        raise
    try:
        await driver.execute("COMMIT")
    except BaseException:
        await _roll_back(conn, driver)
        raise


def _opening(lock_ids: list[int]) -> str:
    begin = f"BEGIN; {KEYED_PLANS}"
    if not lock_ids:
        return begin
    array = "{" + ",".join(str(int(lock_id)) for lock_id in lock_ids) + "}"
    return f"{begin}; SELECT pg_advisory_xact_lock(k) FROM unnest('{array}'::bigint[]) AS k"


def _connection_failed(driver: Any, error: Exception) -> bool:
    """Whether `error` says the connection, not the statement, failed (the server went away,
    or the client's protocol state is broken)."""
    return (
        driver.is_closed()
        or not isinstance(error, asyncpg.PostgresError)
        or isinstance(error, asyncpg.PostgresConnectionError | asyncpg.OperatorInterventionError)
    )


async def _roll_back(conn: AsyncConnection, driver: Any) -> None:
    """End a failed transaction; a connection that cannot is discarded from the pool."""
    try:
        if not driver.is_closed() and driver.is_in_transaction():
            await driver.execute("ROLLBACK")
    except Exception:  # the connection is broken; the pool must not hand it out again
        await conn.invalidate()
        return
    if driver.is_closed():
        await conn.invalidate()


@dataclass(frozen=True, slots=True)
class _DriverStatement:
    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    defaults: Mapping[str, Any]
    """Values the statement carries itself (literals in `.values(...)`, say)."""

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        values = (params[n] if n in params else self.defaults[n] for n in self.names)
        return [
            value if process is None else process(value)
            for value, process in zip(values, self.processors, strict=True)
        ]


@lru_cache(maxsize=512)  # statements are built once (module constants, cached builders)
def _for_driver(statement: Executable, dialect: Dialect) -> _DriverStatement:
    compiled = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
    names = tuple(compiled.positiontup or ())
    binds = [compiled.binds[name] for name in names]
    return _DriverStatement(
        compiled.string,
        names,
        tuple(_bind_processor(bind.type, dialect) for bind in binds),
        {
            n: bind.effective_value
            for n, bind in zip(names, binds, strict=True)
            if not bind.required
        },
    )


def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """What a parameter of this type goes through before the driver; None for an array whose
    items need nothing: SQLAlchemy would only copy it (twice), and asyncpg takes the list."""
    impl = type_.dialect_impl(dialect)
    plain_array = (
        isinstance(impl, sqltypes.ARRAY)
        and impl.dimensions in (None, 1)
        and impl.item_type.dialect_impl(dialect).bind_processor(dialect) is None
    )
    return None if plain_array else impl.bind_processor(dialect)


def in_list(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`column IN (...)` for the list given as parameter `name`, bound as one value.

    An array on PostgreSQL (`= ANY`), a JSON array on SQLite: the statement's text is the same
    for any number of values, so it is prepared once and nothing is rendered per call.
    """
    return _InList(column, bindparam(name, type_=_ListOf(column.type)))


class _ListOf(TypeDecorator[list[Any]]):
    impl = Text
    cache_ok = True

    def __init__(self, item_type: TypeEngine[Any]) -> None:
        super().__init__()
        self.item_type = item_type

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.ARRAY(self.item_type))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: list[Any] | None, dialect: Dialect) -> Any:
        return value if dialect.name == "postgresql" else json.dumps(value)


class _InList(ColumnElement[bool]):
    type = Boolean()
    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], values: BindParameter[list[Any]]) -> None:
        self.column = column
        self.values = values


@compiles(_InList, "postgresql")
def _in_array(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    return (
        f"{compiler.process(element.column, **kw)} = ANY ({compiler.process(element.values, **kw)})"
    )


@compiles(_InList)
def _in_json_array(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"


def insert_ignoring_conflicts(conn: AsyncConnection, table: Table) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect (built once per table)."""
    return _insert_ignoring_conflicts(is_postgres(conn), table)


@cache
def _insert_ignoring_conflicts(postgres: bool, table: Table) -> Insert:
    return (postgresql if postgres else sqlite).insert(table).on_conflict_do_nothing()


def insert_or_lock(conn: AsyncConnection, table: Table) -> Insert:
    """INSERT a row unless its primary key exists; either way RETURNING the stored row, locked.

    One statement instead of INSERT ... ON CONFLICT DO NOTHING then SELECT ... FOR UPDATE: the
    conflict branch sets every column to the value it holds, which takes the row lock (SQLite
    serializes writers instead).
    """
    return _insert_or_lock(is_postgres(conn), table)


@cache
def _insert_or_lock(postgres: bool, table: Table) -> Insert:
    key = list(table.primary_key.columns)
    keep = {column.name: column for column in table.columns if column not in key}
    insert = (postgresql if postgres else sqlite).insert(table)
    return insert.on_conflict_do_update(index_elements=key, set_=keep).returning(*table.columns)


def insert_or_add(conn: AsyncConnection, table: Table, count: str) -> Insert:
    """INSERT a row, or where its primary key exists add the row's `count` to the stored one;
    either way RETURNING the stored row."""
    return _insert_or_add(is_postgres(conn), table, count)


@cache
def _insert_or_add(postgres: bool, table: Table, count: str) -> Insert:
    insert = (postgresql if postgres else sqlite).insert(table)
    added = {count: table.c[count] + insert.excluded[count]}
    key = list(table.primary_key.columns)
    return insert.on_conflict_do_update(index_elements=key, set_=added).returning(*table.columns)


async def lock_keys(conn: AsyncConnection, keys: Iterable[tuple[str, str]]) -> None:
    """Take transaction-scoped advisory locks on (namespace, key) pairs, sorted: no deadlocks.

    Take them all in one call: two calls would each be sorted but not the two together. SQLite
    needs none: the engine runs every write transaction on one connection.
    """
    if not is_postgres(conn):
        return
    ids = _lock_ids(keys)
    if ids:
        await fetch_rows(conn, _LOCK_KEYS, {"ids": ids})


def _lock_ids(keys: Iterable[tuple[str, str]]) -> list[int]:
    return sorted({lock_id(namespace, key) for namespace, key in keys})


KEYED_PLANS = "SET LOCAL plan_cache_mode = auto; SET LOCAL enable_seqscan = off"
"""How the ingest's transactions plan (PostgreSQL): cached plans, kept to index paths.

Connections plan every statement for its values (hub/db.py), so that a plan made while a table
was nearly empty, which scans it whole, is not kept once it has grown. That costs the ingest
dearly: its lookups and updates are planned for every batch, and each foreign key check (a
prepared query run once per written row and key) is planned anew for every row and key.
Every statement of the ingest finds rows by key, so its transactions turn sequential scans off
(a scan remains possible where no index serves, at a high estimated cost) and reuse plans as
PostgreSQL does by default: a cached plan then always seeks through an index, whatever the
table's size was when it was made. COMMIT or ROLLBACK ends the setting.
"""


@asynccontextmanager
async def keyed_plans(conn: AsyncConnection) -> AsyncIterator[None]:
    """Inside, plan as KEYED_PLANS says; outside, as the connection does. For ingesting in a
    caller's transaction (`write_transaction` sets it with its BEGIN, at no cost).

    The settings are local to a transaction, so `conn` must be in one; SQLAlchemy begins its
    transaction on the driver only with the first statement, which may be this block's own.
    """
    if not is_postgres(conn):
        yield
        return
    if not conn.in_transaction():
        raise RuntimeError("keyed_plans needs a transaction: its settings last as long as one")
    await fetch_rows(conn, _KEYED_PLANS_SELECT)
    yield
    await _driver(conn).execute(_PLAN_AS_CONNECTED)


_KEYED_PLANS_SELECT = text(
    "SELECT set_config('plan_cache_mode', 'auto', true), set_config('enable_seqscan', 'off', true)"
)
"""KEYED_PLANS as one statement, which SQLAlchemy may begin the transaction for."""
_PLAN_AS_CONNECTED = "SET LOCAL plan_cache_mode TO DEFAULT; SET LOCAL enable_seqscan TO DEFAULT"


def key_sequence(table: Table) -> str:
    """The sequence a table's integer key draws from on PostgreSQL (a serial column's)."""
    (key,) = table.primary_key.columns
    return f"{table.name}_{key.name}_seq"


_LOCK_KEYS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k")


def lock_id(namespace: str, key: str) -> int:
    """The advisory lock id of (namespace, key): a 64-bit digest."""
    digest = hashlib.blake2b(f"{namespace}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
