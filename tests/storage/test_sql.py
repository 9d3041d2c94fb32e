"""Dialect helpers (storage/sql.py): plan reuse, and statements run on the driver directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hub.db import create_engine
from storage.sql import (
    ConnectionLost,
    KeptConnection,
    fetch_rows,
    fetch_together,
    in_list,
    keyed_plans,
    out_of_reach,
    write_transaction,
)
from tests.conftest import POSTGRES_ADMIN_DSN
from timeline.models import Workspace


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _planning(conn: AsyncConnection) -> tuple[str, str]:
    mode = (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one()
    return mode, (await conn.execute(text("SHOW enable_seqscan"))).scalar_one()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_keyed_plans_hold_from_the_first_statement_of_a_transaction(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        async with keyed_plans(conn):  # nothing has run yet: the block begins the transaction
            assert await _planning(conn) == ("auto", "off")
        assert await _planning(conn) == ("force_custom_plan", "on")
    async with engine.connect() as conn:
        assert await _planning(conn) == ("force_custom_plan", "on")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_keyed_plans_refuse_to_run_outside_a_transaction(engine: AsyncEngine) -> None:
    async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
        with pytest.raises(RuntimeError, match="needs a transaction"):
            async with keyed_plans(conn):
                pass


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_keyed_plans_hold_inside_the_block_only(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await _planning(conn) == ("force_custom_plan", "on")
        async with keyed_plans(conn):
            assert await _planning(conn) == ("auto", "off")
        assert await _planning(conn) == ("force_custom_plan", "on")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_write_transactions_plan_keyed_and_the_next_user_as_connected(
    engine: AsyncEngine,
) -> None:
    kept = KeptConnection(engine)
    async with write_transaction(kept, locks=[("event", "1:SM1")]) as conn:
        assert await _planning(conn) == ("auto", "off")
    with pytest.raises(RuntimeError):
        async with write_transaction(kept) as conn:
            raise RuntimeError("the batch failed")
    async with engine.connect() as conn:
        assert await _planning(conn) == ("force_custom_plan", "on")
    assert await _planning(await kept.connection()) == ("force_custom_plan", "on")
    await kept.close()


_WORKSPACE = insert(Workspace.__table__).values(
    name=bindparam("name"),
    default_country="US",
    reopen_window_seconds=60,
    created_at=bindparam("at"),
)
_NAMES = select(Workspace.__table__.c.id, Workspace.__table__.c.name).order_by(
    Workspace.__table__.c.id
)

_BACKEND = text("SELECT pg_backend_pid()")


async def _drop_connections(database_url: str) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            database_url.rsplit("/", 1)[-1],
        )
    finally:
        await admin.close()


async def _names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return [name for _, name in await fetch_rows(conn, _NAMES)]


async def test_rows_come_back_as_sequences(engine: AsyncEngine) -> None:
    at = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)
    async with engine.begin() as conn:
        await fetch_rows(conn, _WORKSPACE, {"name": "Acme", "at": at})
        await fetch_rows(conn, _WORKSPACE, {"name": "Globex", "at": at})
        rows = await fetch_rows(conn, _NAMES)
    assert [name for _, name in rows] == ["Acme", "Globex"]
    assert all(isinstance(workspace_id, int) for workspace_id, _ in rows)


async def test_statements_belong_to_the_transaction_even_the_first(engine: AsyncEngine) -> None:
    at = datetime(2026, 12, 2, 21, 0, tzinfo=UTC)
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await fetch_rows(conn, _WORKSPACE, {"name": "first", "at": at})
            await fetch_rows(conn, _WORKSPACE, {"name": "second", "at": at})
            raise RuntimeError("the batch failed")
    assert await _names(engine) == []


async def test_parameters_get_their_types_bind_processing(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await fetch_rows(conn, _WORKSPACE, {"name": "warm-up", "at": datetime.now(UTC)})
        with pytest.raises((ValueError, StatementError), match="naive datetime"):
            await fetch_rows(conn, _WORKSPACE, {"name": "naive", "at": datetime(2026, 12, 2)})


async def test_a_write_transaction_commits_what_its_block_wrote(engine: AsyncEngine) -> None:
    at = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    async with write_transaction(engine) as conn:
        await fetch_rows(conn, _WORKSPACE, {"name": "driver", "at": at})
        await conn.execute(_WORKSPACE, {"name": "sqlalchemy", "at": at})  # same transaction
        assert [name for _, name in await fetch_rows(conn, _NAMES)] == ["driver", "sqlalchemy"]
    assert await _names(engine) == ["driver", "sqlalchemy"]


async def test_a_write_transaction_that_raises_writes_nothing(engine: AsyncEngine) -> None:
    at = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    with pytest.raises(RuntimeError):
        async with write_transaction(engine) as conn:
            await fetch_rows(conn, _WORKSPACE, {"name": "first", "at": at})
            await conn.execute(_WORKSPACE, {"name": "second", "at": at})
            raise RuntimeError("the batch failed")
    assert await _names(engine) == []
    async with write_transaction(engine) as conn:  # the connection went back to the pool clean
        await fetch_rows(conn, _WORKSPACE, {"name": "next", "at": at})
    assert await _names(engine) == ["next"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_failed_commit_leaves_nothing_and_a_usable_pool(engine: AsyncEngine) -> None:
    at = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    block_ended = False
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        async with write_transaction(engine) as conn:
            await fetch_rows(
                conn, text("CREATE TEMP TABLE parent (id int PRIMARY KEY) ON COMMIT DROP")
            )
            await fetch_rows(
                conn,
                text(
                    "CREATE TEMP TABLE pending (x int REFERENCES parent (id)"
                    " DEFERRABLE INITIALLY DEFERRED) ON COMMIT DROP"
                ),
            )
            await fetch_rows(conn, text("INSERT INTO pending VALUES (-1)"))  # fails at COMMIT
            block_ended = True
    assert block_ended  # the COMMIT failed, not a statement of the block
    async with write_transaction(engine) as conn:
        await fetch_rows(conn, _WORKSPACE, {"name": "after", "at": at})
    assert await _names(engine) == ["after"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_connection_the_server_dropped_fails_the_begin_and_leaves_the_pool(
    engine: AsyncEngine, database_url: str
) -> None:
    async with write_transaction(engine) as one, write_transaction(engine) as other:
        await fetch_rows(one, _NAMES)  # two pooled connections, idle afterwards
        await fetch_rows(other, _NAMES)
    await _drop_connections(database_url)
    with pytest.raises(ConnectionLost):
        async with write_transaction(engine) as conn:
            raise AssertionError("the block must not run on a dropped connection")
    async with write_transaction(engine) as conn:  # a fresh connection, not the other dead one
        assert await fetch_rows(conn, _NAMES) == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_write_transaction_holds_its_locks_from_the_start(engine: AsyncEngine) -> None:
    held = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    )
    keys = [("event", "1:SM1"), ("identity", "1:phone:+14155550123"), ("event", "1:SM1")]
    async with write_transaction(engine, locks=keys) as conn:
        assert (await fetch_rows(conn, held))[0][0] == 2  # the distinct keys
    async with write_transaction(engine) as conn:
        assert (await fetch_rows(conn, held))[0][0] == 0  # released with the transaction


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_locks_that_cannot_be_taken_fail_as_themselves_not_as_a_lost_connection(
    database_url: str,
) -> None:
    impatient = create_async_engine(
        database_url, connect_args={"server_settings": {"lock_timeout": "200ms"}}
    )
    keys = [("identity", "1:phone:+14155550123")]
    try:
        async with write_transaction(impatient, locks=keys):
            with pytest.raises(asyncpg.LockNotAvailableError):
                async with write_transaction(impatient, locks=keys):
                    raise AssertionError("the block must not run without its locks")
        async with write_transaction(impatient, locks=keys) as conn:  # the pool still works
            assert await fetch_rows(conn, _NAMES) == []
    finally:
        await impatient.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_kept_connection_runs_transaction_after_transaction_on_one_backend(
    engine: AsyncEngine,
) -> None:
    kept = KeptConnection(engine)
    backends = []
    for name in ("one", "two"):
        async with write_transaction(kept, locks=[("test", name)]) as conn:
            await conn.execute(_WORKSPACE, {"name": name, "at": datetime.now(UTC)})
            backends.append((await fetch_rows(conn, _BACKEND))[0][0])
    with pytest.raises(RuntimeError):
        async with write_transaction(kept) as conn:
            await conn.execute(_WORKSPACE, {"name": "rolled back", "at": datetime.now(UTC)})
            raise RuntimeError("the batch failed")
    async with write_transaction(kept) as conn:
        backends.append((await fetch_rows(conn, _BACKEND))[0][0])
        assert [name for _, name in await fetch_rows(conn, _NAMES)] == ["one", "two"]
    await kept.close()
    assert len(set(backends)) == 1


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_kept_connection_the_server_dropped_is_replaced_after_one_failure(
    engine: AsyncEngine, database_url: str
) -> None:
    kept = KeptConnection(engine)
    async with write_transaction(kept) as conn:
        before = (await fetch_rows(conn, _BACKEND))[0][0]
    await _drop_connections(database_url)
    with pytest.raises(ConnectionLost):
        async with write_transaction(kept):
            raise AssertionError("the block must not run on a dropped connection")
    async with write_transaction(kept) as conn:
        after = (await fetch_rows(conn, _BACKEND))[0][0]
    await kept.close()
    assert after != before


async def _cached_plan_after_growth(conn: AsyncConnection) -> str:
    """EXPLAIN of a keyed batch update prepared (and run 10 times) while its table was tiny,
    executed again once the table holds 20,000 rows."""
    await conn.execute(text("CREATE TEMP TABLE grows (id bigint PRIMARY KEY, n int NOT NULL)"))
    await conn.execute(text("INSERT INTO grows VALUES (1, 0), (2, 0)"))
    await conn.execute(text("ANALYZE grows"))
    await conn.execute(
        text(
            "PREPARE bump(bigint[]) AS UPDATE grows SET n = grows.n + 1"
            " FROM unnest($1) AS batch(id) WHERE grows.id = batch.id"
        )
    )
    for _ in range(10):
        await conn.execute(text("EXECUTE bump('{1,2}')"))
    await conn.execute(text("INSERT INTO grows SELECT g, 0 FROM generate_series(3, 20000) g"))
    explained = await conn.execute(text("EXPLAIN EXECUTE bump('{5,500,5000}')"))
    return "\n".join(row[0] for row in explained)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_plan_cached_on_a_tiny_table_still_seeks_once_it_has_grown(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn, keyed_plans(conn):
        plan = await _cached_plan_after_growth(conn)
        generic = await conn.execute(
            text("SELECT generic_plans FROM pg_prepared_statements WHERE name = 'bump'")
        )
        assert generic.scalar_one() > 0, "the plan was cached, not made for each run's values"
    assert "Seq Scan on grows" not in plan, plan
    assert "Index Scan using grows_pkey" in plan, plan


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_without_keyed_plans_the_cached_plan_would_scan_the_grown_table(
    engine: AsyncEngine,
) -> None:
    """The trap keyed plans avoid, shown: PostgreSQL's default plan caching alone."""
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL plan_cache_mode = auto"))
        plan = await _cached_plan_after_growth(conn)
    assert "Seq Scan on grows" in plan, plan


async def test_statements_fetched_together_each_give_their_rows(engine: AsyncEngine) -> None:
    """One statement on PostgreSQL (a CTE read by two of them), one after another on SQLite."""
    workspaces = Workspace.__table__
    named = (
        select(workspaces.c.id, workspaces.c.name)
        .where(in_list(workspaces.c.name, "names"))
        .cte("named")
    )
    statements = (
        select(named.c.name).order_by(named.c.name),
        select(workspaces.c.name).where(workspaces.c.id.in_(select(named.c.id))),
        select(workspaces.c.name).where(workspaces.c.name == bindparam("nobody")),
    )
    async with engine.begin() as conn:
        at = datetime.now(UTC)
        for name in ("Acme", "Globex", "Initech"):
            await conn.execute(_WORKSPACE, {"name": name, "at": at})
        names, again, none = await fetch_together(
            conn, statements, {"names": ["Globex", "Acme"], "nobody": "Umbrella"}
        )
    assert [tuple(row) for row in names] == [("Acme",), ("Globex",)]
    assert sorted(tuple(row) for row in again) == [("Acme",), ("Globex",)]
    assert list(none) == []


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        (asyncpg.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.TooManyConnectionsError("too many clients"), True),
        (DBAPIError("SELECT 1", None, OSError("reset"), connection_invalidated=False), True),
        (DBAPIError("SELECT 1", None, Exception("lost"), connection_invalidated=True), True),
        (asyncpg.exceptions._base.DataError("invalid input for query argument $1"), False),
        (asyncpg.UniqueViolationError("duplicate key"), False),
        (ValueError("a bug"), False),
    ],
)
def test_what_is_out_of_reach_and_what_is_not(error: BaseException, unreachable: bool) -> None:
    """A service away answers 503 (retry); a value refused, or a bug, is no outage."""
    assert out_of_reach(error) is unreachable
