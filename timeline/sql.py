"""The few statements that differ between PostgreSQL and SQLite, behind one function each."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from functools import cache
from typing import Any

from sqlalchemy import Boolean, Table, Text, TypeDecorator, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import Insert
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.type_api import TypeEngine
from sqlalchemy.sql.visitors import InternalTraversal


def is_postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


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
async def reusing_plans(conn: AsyncConnection) -> AsyncIterator[None]:
    """Inside, statements reuse cached plans as PostgreSQL does by default (`auto`).

    Connections plan every statement for its values (hub/db.py), which lookups and updates
    want: they find rows by value. Inserts do not: each foreign key check is a prepared query
    run once per written row, and planning it every time costs ~40 µs per row and key, more
    than the insert itself. If the block raises, the transaction's rollback undoes the setting.
    """
    if not is_postgres(conn):
        yield
        return
    await conn.execute(_REUSE_PLANS)
    yield
    await conn.execute(_PLAN_EACH_TIME)


_REUSE_PLANS = text("SET LOCAL plan_cache_mode = auto")
_PLAN_EACH_TIME = text("SET LOCAL plan_cache_mode TO DEFAULT")
_LOCK_KEYS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ids AS bigint[])) AS k")


def _lock_id(namespace: str, key: str) -> int:
    digest = hashlib.blake2b(f"{namespace}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
