"""Writes many rows in one statement: one array per column on PostgreSQL, executemany on SQLite.

A batch of N rows costs PostgreSQL one round trip and one small plan, and costs Python a handful
of parameters instead of N parameter sets to process: `unnest` turns the arrays back into rows
on the server. The statement's text does not depend on N, so it is prepared once. SQLite keeps
the plain per-row statement (it runs in-process; a round trip costs nothing there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    CTE,
    JSON,
    Column,
    Integer,
    Table,
    Text,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement, Executable, Insert, Update
from sqlalchemy.sql.type_api import TypeEngine

from storage.json_text import json_text
from storage.sql import fetch_rows, is_postgres, key_sequence, lock_id

_ORDINAL = "batch_ordinal"


class _Parameters:
    """Row values as bind parameters, for the per-row (SQLite) form of a statement."""

    def __init__(self, types: Mapping[str, TypeEngine[Any]]) -> None:
        self._params = {name: bindparam(name, type_=type_) for name, type_ in types.items()}

    def __getattr__(self, name: str) -> ColumnElement[Any]:
        return self._params[name]


class _Unnested:
    """`unnest(:a, :b, ...) WITH ORDINALITY AS batch(a, b, ..., batch_ordinal)` and its values.

    JSON values travel as text and are cast back on the server: an array of JSON documents that
    are themselves lists would read as a multi-dimensional array.
    """

    def __init__(self, types: Mapping[str, TypeEngine[Any]], prefix: str = "") -> None:
        self.json = frozenset(name for name, type_ in types.items() if _is_json(type_))
        self.prefix = prefix  # of the parameters' names: two statements in one keep apart
        carried = {name: Text() if name in self.json else type_ for name, type_ in types.items()}
        arrays = [
            bindparam(prefix + name, type_=postgresql.ARRAY(type_))
            for name, type_ in carried.items()
        ]
        self.rows = (
            func.unnest(*arrays)
            .table_valued(
                *[Column(name, type_) for name, type_ in carried.items()], with_ordinality=_ORDINAL
            )
            .render_derived(name="batch")
        )
        columns = self.rows.c
        self.c = SimpleNamespace(
            **{
                name: cast(columns[name], types[name]) if name in self.json else columns[name]
                for name in types
            }
        )

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
        """One list per column, JSON encoded where it travels as text."""
        return {
            self.prefix + name: [json_text(row[name]) for row in rows]
            if name in self.json
            else [row[name] for row in rows]
            for name in rows[0]
        }


def _is_json(type_: TypeEngine[Any]) -> bool:
    return isinstance(type_, JSON)


@cache
def _unnest(table: Table, names: tuple[str, ...], prefix: str = "") -> _Unnested:
    return _Unnested({name: table.c[name].type for name in names}, prefix)


@dataclass(frozen=True, slots=True)
class RowsInsert:
    """Rows to insert into `table`, all with the same keys; with `ignore_conflicts`, a row whose
    key exists already is skipped."""

    table: Table
    rows: Sequence[Mapping[str, Any]]
    ignore_conflicts: bool = False

    async def insert(self, conn: AsyncConnection) -> None:
        """Insert the rows on their own."""
        await insert_rows(conn, self.table, self.rows, ignore_conflicts=self.ignore_conflicts)

    def shape(self) -> tuple[Table, tuple[str, ...], bool]:
        """What a statement inserting the rows depends on (rows given)."""
        return self.table, tuple(self.rows[0]), self.ignore_conflicts


@cache
def _insert(
    table: Table,
    names: tuple[str, ...],
    postgres: bool,
    ignore_conflicts: bool,
    returning: bool,
    prefix: str = "",
) -> Insert:
    dialect = postgresql if postgres else sqlite
    if not postgres:
        statement = dialect.insert(table)
    else:
        batch = _unnest(table, names, prefix)
        source = select(*[getattr(batch.c, name) for name in names])
        statement = dialect.insert(table).from_select(
            list(names), source.order_by(batch.rows.c[_ORDINAL])
        )
    if ignore_conflicts:
        statement = statement.on_conflict_do_nothing()
    if returning:
        (key,) = table.primary_key.columns
        statement = statement.returning(key, sort_by_parameter_order=not postgres)
    return statement


@cache
def _inserts_statement(
    shapes: tuple[tuple[Table, tuple[str, ...], bool], ...], appends: bool
) -> Executable:
    """The first insert as the statement (with `appends`, an `append_rows` that returns the
    ids), the others carried along as data-modifying CTEs."""
    (table, names, ignores), *carried = shapes
    alongs = []
    for position, (along_table, along_names, along_ignores) in enumerate(carried, start=1):
        along = _insert(along_table, along_names, True, along_ignores, False, _carried(position))
        if appends:  # the append waits for it: a CTE is read only through its RETURNING
            along = along.returning(literal(1))
        alongs.append(along.cte(_carried(position, "")))
    if appends:
        return _append(table, names, tuple(alongs))
    statement = _insert(table, names, True, ignores, False)
    for along in alongs:
        statement = statement.add_cte(along)
    return statement


async def insert_together(
    conn: AsyncConnection, *inserts: RowsInsert, appending: RowsInsert | None = None
) -> list[int]:
    """Insert every RowsInsert's rows, in one statement on PostgreSQL (one round trip), and
    `appending`'s into an append-only log table as `append_rows` does, in that same statement;
    the appended rows' new ids, in the order of their rows.

    Rows may refer to rows of another insert given here, by ids drawn beforehand
    (`update_rows(..., drawing=...)`): PostgreSQL checks foreign keys at the end of the
    statement, and on SQLite the inserts run one by one in the order given, so give the rows
    that others refer to first.
    """
    due = [each for each in inserts if each.rows]
    log = appending if appending is not None and appending.rows else None
    if not is_postgres(conn):
        for each in due:
            await each.insert(conn)
        return await append_rows(conn, log.table, log.rows) if log else []
    if log is None and not due:
        return []
    head, carried = (log, due) if log else (due[0], due[1:])
    params = _unnest(head.table, tuple(head.rows[0])).parameters(head.rows)
    for position, each in enumerate(carried, start=1):
        params |= _unnest(each.table, tuple(each.rows[0]), _carried(position)).parameters(each.rows)
    shapes = (head.shape(), *(each.shape() for each in carried))
    rows = await fetch_rows(conn, _inserts_statement(shapes, appends=log is not None), params)
    return sorted(row[0] for row in rows) if log else []


async def insert_rows(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """INSERT every row (all with the same keys), optionally skipping key conflicts."""
    if not rows:
        return
    postgres = is_postgres(conn)
    names = tuple(rows[0])
    statement = _insert(table, names, postgres, ignore_conflicts, False)
    if postgres:
        await fetch_rows(conn, statement, _unnest(table, names).parameters(rows))
    else:
        await conn.execute(statement, rows)


async def insert_returning_ids(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """INSERT every row; their new ids, in the order of `rows`.

    PostgreSQL inserts the unnested rows in ordinal order, so their ids (from the table's
    sequence) ascend in that order: sorting what RETURNING gives restores it, as SQLAlchemy's
    own multi-row insert does.
    """
    if not rows:
        return []
    names = tuple(rows[0])
    if not is_postgres(conn):
        result = await conn.execute(_insert(table, names, False, False, True), list(rows))
        return [row[0] for row in result]
    params = _unnest(table, names).parameters(rows)
    statement = _insert(table, names, True, False, True)
    return sorted(row[0] for row in await fetch_rows(conn, statement, params))


async def append_rows(
    conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[int]:
    """INSERT every row into an append-only `table` whose ids must ascend in commit order (a
    log read by position); their new ids, in the order of `rows`.

    Ids from a sequence ascend in the order they are drawn, not in the order their transactions
    commit: a reader that has seen id 12 could never see an 11 committed after it. So on
    PostgreSQL the statement first takes a transaction-scoped advisory lock of the table's, and
    draws its ids only once it holds it: until its transaction ends, no other draws any. Writers
    of the table take turns from their insert to their commit, so callers insert late in their
    transaction (`insert_together(..., appending=...)` does it in a batch's last insert, once
    that statement's other inserts are done).
    SQLite serializes writers anyway.
    """
    if not rows:
        return []
    if not is_postgres(conn):
        return await insert_returning_ids(conn, table, rows)
    names = tuple(rows[0])
    params = _unnest(table, names).parameters(rows)
    return sorted(row[0] for row in await fetch_rows(conn, _append(table, names), params))


@cache
def _append(table: Table, names: tuple[str, ...], after: tuple[CTE, ...] = ()) -> Insert:
    """INSERT ... SELECT from the unnested rows joined to a CTE that takes the lock: the ids
    (the column's default) are drawn as rows come out of the join, which reads the CTE first.

    The lock is taken once the inserts `after` (CTEs of the same statement) are done: left to
    themselves they would run at the statement's end, with the lock held, and every other
    writer of the log would wait for them too (docs/performance.md, "The ingest transaction")."""
    done = [select(func.count()).select_from(each).scalar_subquery() >= 0 for each in after]
    lock = (
        select(func.pg_advisory_xact_lock(lock_id("append", table.name)))
        .where(*done)
        .cte("append_lock")
    )
    batch = _unnest(table, names)
    source = (
        select(*[getattr(batch.c, name) for name in names])
        .select_from(batch.rows)
        .join(lock, true())
        .order_by(batch.rows.c[_ORDINAL])
    )
    (key,) = table.primary_key.columns
    return postgresql.insert(table).from_select(list(names), source).returning(key)


@dataclass(frozen=True, eq=False)
class RowsUpdate:
    """An UPDATE of many rows of `table`: the row whose `column` equals parameter `key` gets
    that parameter row's values (or whose columns equal the parameters, given tuples).

    `values` builds the SET clause from the parameters (`p.name`), which it may combine with the
    table's current columns; `types` gives each parameter's type. Parameters are not named like
    the table's columns (SQLAlchemy reserves those names in an UPDATE).
    """

    table: Table
    column: str | tuple[str, ...]
    key: str | tuple[str, ...]
    types: Mapping[str, TypeEngine[Any]]
    values: Callable[[Any], Mapping[str, ColumnElement[Any]]]

    @cache  # noqa: B019 - a few module-level instances, kept for the process's life
    def _unnested(self, prefix: str) -> _Unnested:
        return _Unnested(self.types, prefix)

    @cache  # noqa: B019 - a few module-level instances, kept for the process's life
    def _statement(self, postgres: bool, prefix: str = "") -> Update:
        params = self._unnested(prefix).c if postgres else _Parameters(self.types)
        columns = (self.column,) if isinstance(self.column, str) else self.column
        keys = (self.key,) if isinstance(self.key, str) else self.key
        statement = update(self.table)
        for column, key in zip(columns, keys, strict=True):
            statement = statement.where(self.table.c[column] == getattr(params, key))
        return statement.values(dict(self.values(params)))


@dataclass(frozen=True, slots=True)
class UpdateRows:
    """A RowsUpdate and the rows it is to apply, in key order (so concurrent batches lock
    alike)."""

    update: RowsUpdate
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class NewIds:
    """`count` ids for rows of `table` about to be inserted, drawn before the insert so that
    rows of other tables in the same insert can refer to them."""

    table: Table
    count: int


async def update_rows(
    conn: AsyncConnection, *updates: UpdateRows, drawing: Sequence[NewIds] = ()
) -> list[list[int]]:
    """Apply each update to its rows, in the order given; draw the ids asked for (one ascending
    list per NewIds).

    On PostgreSQL it is all one statement, one round trip: the updates are data-modifying CTEs
    (they must not update the same rows: a row may change only once per statement) and the ids
    come from the tables' key sequences. On SQLite the updates run one by one and the ids follow
    the largest in the table: SQLite serializes writers, so nobody takes them before the
    caller's insert.
    """
    due = [each for each in updates if each.rows]
    if not is_postgres(conn):
        for each in due:
            await conn.execute(each.update._statement(False), list(each.rows))
        return [await _ids_after_largest(conn, wanted) for wanted in drawing]
    if not (due or drawing):
        return []
    params: dict[str, Any] = {_draw(n): wanted.count for n, wanted in enumerate(drawing)}
    for position, each in enumerate(due, start=1):
        params |= each.update._unnested(_carried(position)).parameters(each.rows)
    statement = _updates_statement(
        tuple(each.update for each in due), tuple(wanted.table for wanted in drawing)
    )
    (drawn,) = await fetch_rows(conn, statement, params)
    return [sorted(ids or ()) for ids in drawn[: len(drawing)]]


async def _ids_after_largest(conn: AsyncConnection, wanted: NewIds) -> list[int]:
    (key,) = wanted.table.primary_key.columns
    largest = (await conn.execute(select(func.max(key)))).scalar_one() or 0
    return list(range(largest + 1, largest + 1 + wanted.count))


def _carried(position: int, suffix: str = "_") -> str:
    """The prefix of a carried statement's parameters (with `suffix=""`: its CTE's name), so
    that statements in one keep apart; the statement that carries them has none."""
    return f"along{position}{suffix}" if position else ""


def _draw(position: int) -> str:
    return f"draw{position}"


@cache
def _updates_statement(updates: tuple[RowsUpdate, ...], drawing: tuple[Table, ...]) -> Executable:
    """SELECT the drawn ids, an array per table; the updates ride along as data-modifying
    CTEs, which PostgreSQL runs whatever the SELECT reads.

    Each count becomes that many rows by unnesting an array of it as long: PostgreSQL guesses
    such a row count at 10 when it caches a plan, where it guesses 1,000 for generate_series,
    which made every cached plan of the statement look dearer than planning it afresh (it then
    planned it each time).
    """
    columns: list[ColumnElement[Any]] = [
        select(func.array_agg(func.nextval(literal_column(f"'{key_sequence(table)}'"))))
        .select_from(func.unnest(func.array_fill(0, array([cast(bindparam(_draw(n)), Integer)]))))
        .scalar_subquery()
        for n, table in enumerate(drawing)
    ]
    statement = select(*columns, literal_column("1"))
    for position, each in enumerate(updates, start=1):
        carried_update = each._statement(True, _carried(position))
        statement = statement.add_cte(carried_update.cte(_carried(position, "")))
    return statement
