"""Multi-row writes (storage/bulk.py) on SQLite and PostgreSQL: order, JSON, conflicts, updates."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.db import create_engine
from storage.bulk import (
    NewIds,
    RowsInsert,
    RowsUpdate,
    UpdateRows,
    append_rows,
    insert_returning_ids,
    insert_rows,
    insert_together,
    update_rows,
)
from tests.lock_waits import until_a_session_waits_for_a_lock
from timeline.models.base import BigId, UtcDateTime

metadata = MetaData()
things = Table(
    "bulk_test_things",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("name", String(50), nullable=False, unique=True),
    Column("tags", JSON, nullable=False),
    Column("seen_at", UtcDateTime, nullable=True),
    Column("count", Integer, nullable=False),
)
labels = Table(
    "bulk_test_labels",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("tags", JSON, nullable=False),
    Column("count", Integer, nullable=False),
)
"""Shares column names with `things`: inserted together, its parameters must not mix with theirs."""
parts = Table(
    "bulk_test_parts",
    metadata,
    Column("thing_id", BigId, ForeignKey("bulk_test_things.id"), primary_key=True),
    Column("name", String(50), nullable=False),
)
notes = Table(
    "bulk_test_notes",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("text", String(50), nullable=False),
)
"""Ids from its own sequence, which shows whether an insert has run (sequences ignore
transactions)."""
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

_BUMP = RowsUpdate(
    things,
    column="id",
    key="thing_id",
    types={"thing_id": BigInteger(), "by": Integer(), "seen": UtcDateTime()},
    values=lambda p: {
        "count": things.c.count + p.by,
        "seen_at": func.coalesce(p.seen, things.c.seen_at),
    },
)

_RECOUNT = RowsUpdate(  # keyed by a text column this time
    labels, "name", "label", {"label": String(), "count": Integer()}, lambda p: {"count": p.count}
)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


def _row(name: str, tags: object, count: int = 0) -> dict[str, object]:
    return {"name": name, "tags": tags, "seen_at": None, "count": count}


async def test_new_ids_come_back_in_the_order_of_the_rows(engine: AsyncEngine) -> None:
    names = [f"thing-{n:03d}" for n in range(300)]
    random.Random(7).shuffle(names)
    async with engine.begin() as conn:
        ids = await insert_returning_ids(conn, things, [_row(name, []) for name in names])
        stored = dict((await conn.execute(select(things.c.id, things.c.name))).all())
    assert len(set(ids)) == 300
    assert [stored[i] for i in ids] == names


async def test_json_values_that_are_lists_stay_lists(engine: AsyncEngine) -> None:
    values: list[object] = [[], [[1, 2], [3]], {"a": [1]}, ["x", None], "plain"]
    async with engine.begin() as conn:
        ids = await insert_returning_ids(
            conn, things, [_row(f"t{n}", value) for n, value in enumerate(values)]
        )
        stored = dict((await conn.execute(select(things.c.id, things.c.tags))).all())
    assert [stored[i] for i in ids] == values


async def test_conflicting_rows_are_skipped_and_the_rest_inserted(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await insert_rows(conn, things, [_row("a", ["first"]), _row("b", [])])
        await insert_rows(
            conn, things, [_row("a", ["second"]), _row("c", [])], ignore_conflicts=True
        )
        stored = dict((await conn.execute(select(things.c.name, things.c.tags))).all())
    assert stored == {"a": ["first"], "b": [], "c": []}


async def test_rows_update_applies_each_row_to_its_own_target(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ids = await insert_returning_ids(
            conn, things, [_row("a", [], 1), _row("b", [], 10), _row("c", [], 100)]
        )
        await update_rows(
            conn,
            UpdateRows(
                _BUMP,
                [
                    {"thing_id": ids[0], "by": 2, "seen": T0},
                    {"thing_id": ids[2], "by": 5, "seen": None},
                ],
            ),
        )
        await update_rows(conn, UpdateRows(_BUMP, [{"thing_id": ids[0], "by": 1, "seen": None}]))
        rows = (
            await conn.execute(
                select(things.c.name, things.c.count, things.c.seen_at).order_by(things.c.name)
            )
        ).all()
    assert [tuple(r) for r in rows] == [("a", 4, T0), ("b", 10, None), ("c", 105, None)]
    assert rows[0].seen_at.tzinfo is not None and rows[0].seen_at - T0 == timedelta(0)


async def test_empty_batches_write_nothing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await insert_returning_ids(conn, things, []) == []
        await insert_rows(conn, things, [])
        await update_rows(conn, UpdateRows(_BUMP, []))
        assert (await conn.execute(select(func.count()).select_from(things))).scalar_one() == 0


async def test_inserts_together_write_every_table_skipping_conflicts_where_asked(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        await insert_rows(conn, labels, [{"name": "old", "tags": ["kept"], "count": 1}])
        await insert_together(
            conn,
            RowsInsert(things, [_row("x", ["thing"], 7), _row("y", [], 8)]),
            RowsInsert(things, []),
            RowsInsert(
                labels,
                [
                    {"name": "old", "tags": ["replaced?"], "count": 2},
                    {"name": "new", "tags": [[1]], "count": 3},
                ],
                ignore_conflicts=True,
            ),
        )
        stored = (await conn.execute(select(things.c.name, things.c.tags))).all()
        carried_rows = (
            await conn.execute(select(labels.c.name, labels.c.tags, labels.c.count))
        ).all()
    assert sorted(tuple(r) for r in stored) == [("x", ["thing"]), ("y", [])]
    assert sorted(tuple(r) for r in carried_rows) == [("new", [[1]], 3), ("old", ["kept"], 1)]


async def test_rows_inserted_together_may_refer_to_each_other_by_drawn_ids(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        (thing_ids,) = await update_rows(conn, drawing=[NewIds(things, 2)])
        await insert_together(
            conn,
            RowsInsert(things, [{"id": i, **_row(f"t{i}", [])} for i in thing_ids]),
            RowsInsert(parts, [{"thing_id": i, "name": f"part of {i}"} for i in thing_ids]),
        )
        owners = (await conn.execute(select(parts.c.thing_id).order_by(parts.c.thing_id))).all()
    assert [owner for (owner,) in owners] == thing_ids


async def test_a_row_referring_to_no_row_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await insert_together(conn, RowsInsert(parts, [{"thing_id": 999, "name": "lost"}]))


async def test_drawn_ids_ascend_and_are_not_handed_out_again(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        (before,) = await insert_returning_ids(conn, things, [_row("before", [])])
        first, none = await update_rows(conn, drawing=[NewIds(things, 3), NewIds(things, 0)])
        await insert_rows(conn, things, [{"id": i, **_row(f"d{i}", [])} for i in first])
        (after,) = await insert_returning_ids(conn, things, [_row("after", [])])
        (second,) = await update_rows(conn, drawing=[NewIds(things, 2)])
    assert none == []
    assert first == sorted(first) and len(set(first)) == 3
    assert before < first[0] and first[-1] < after < second[0] < second[1]


async def test_several_updates_apply_together_each_to_its_own_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        ids = await insert_returning_ids(conn, things, [_row("a", [], 1), _row("b", [], 10)])
        await insert_rows(conn, labels, [{"name": "x", "tags": [], "count": 5}])
        await update_rows(
            conn,
            UpdateRows(_BUMP, [{"thing_id": ids[1], "by": 3, "seen": T0}]),
            UpdateRows(_BUMP, []),
            UpdateRows(_RECOUNT, [{"label": "x", "count": 2}]),
        )
        counted = dict((await conn.execute(select(things.c.name, things.c.count))).all())
        recounted = dict((await conn.execute(select(labels.c.name, labels.c.count))).all())
    assert counted == {"a": 1, "b": 13}
    assert recounted == {"x": 2}


async def test_a_naive_time_in_a_batch_is_refused(engine: AsyncEngine) -> None:
    """Arrays of ids and names reach the driver as they are; times still pass UtcDateTime."""
    naive = {**_row("naive", []), "seen_at": datetime(2026, 12, 1, 8, 0)}
    with pytest.raises((ValueError, StatementError), match="naive datetime"):
        async with engine.begin() as conn:
            await insert_together(conn, RowsInsert(things, [_row("aware", []), naive]))


Append = Callable[[AsyncConnection, list[dict[str, object]]], Awaitable[list[int]]]


async def _append_alone(conn: AsyncConnection, rows: list[dict[str, object]]) -> list[int]:
    return await append_rows(conn, things, rows)


async def _append_with_an_insert(conn: AsyncConnection, rows: list[dict[str, object]]) -> list[int]:
    """Appended in the statement of another table's insert (a batch's last statement)."""
    label = {"name": f"beside {rows[0]['name']}", "tags": [], "count": len(rows)}
    return await insert_together(
        conn, RowsInsert(labels, [label]), appending=RowsInsert(things, rows)
    )


@pytest.mark.parametrize("append", [_append_alone, _append_with_an_insert])
async def test_appended_ids_ascend_in_commit_order(engine: AsyncEngine, append: Append) -> None:
    """A second writer of the log draws its ids only once the first has committed, so a reader
    that has seen an id never sees a smaller one appear later."""
    first_in = asyncio.Event()
    first_may_commit = asyncio.Event()

    async def first() -> list[int]:
        async with engine.begin() as conn:
            ids = await append(conn, [_row("a", []), _row("b", [])])
            first_in.set()
            await first_may_commit.wait()
            return ids

    async def second() -> list[int]:
        await first_in.wait()
        async with engine.begin() as conn:
            return await append(conn, [_row("c", [])])

    first_task, second_task = asyncio.create_task(first()), asyncio.create_task(second())
    await first_in.wait()
    await asyncio.sleep(0.3)
    assert not second_task.done()  # waiting for the first to commit
    first_may_commit.set()
    first_ids, second_ids = await first_task, await second_task
    assert max(first_ids) < min(second_ids) and first_ids == sorted(first_ids)
    async with engine.connect() as conn:
        names = dict((await conn.execute(select(things.c.id, things.c.name))).all())
    assert [names[i] for i in (*first_ids, *second_ids)] == ["a", "b", "c"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite has no lock
async def test_a_batch_inserts_its_rows_before_it_waits_to_append_to_the_log(
    engine: AsyncEngine,
) -> None:
    """The log's lock is held from the append to the commit: a batch that waits for it has
    already inserted what its statement carries, so that other writers wait only for the log's
    rows and the commit, not for the whole batch's inserts."""
    holding = asyncio.Event()
    release = asyncio.Event()

    async def hold_the_log() -> None:
        async with engine.begin() as conn:
            await append_rows(conn, things, [_row("first", [])])
            holding.set()
            await release.wait()

    async def write_a_batch() -> list[int]:
        async with engine.begin() as conn:
            return await insert_together(
                conn,
                RowsInsert(notes, [{"text": "carried"}]),
                appending=RowsInsert(things, [_row("second", [])]),
            )

    holder = asyncio.create_task(hold_the_log())
    await holding.wait()
    batch = asyncio.create_task(write_a_batch())
    await until_a_session_waits_for_a_lock(engine, "advisory")
    assert not batch.done()  # waiting for the log
    async with engine.connect() as conn:
        drawn = await conn.scalar(text("SELECT is_called FROM bulk_test_notes_id_seq"))
    release.set()
    await holder
    assert await batch
    assert drawn, "the carried insert had not run while the batch waited for the log"
