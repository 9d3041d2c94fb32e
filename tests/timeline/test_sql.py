"""Dialect helpers (timeline/sql.py): plan reuse, and statements run on the driver directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.db import create_engine
from timeline.models import Workspace
from timeline.sql import fetch_rows, reusing_plans


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def _plan_mode(conn: AsyncConnection) -> str:
    return (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_plans_are_reused_inside_the_block_only(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        assert await _plan_mode(conn) == "force_custom_plan"
        async with reusing_plans(conn):
            assert await _plan_mode(conn) == "auto"
        assert await _plan_mode(conn) == "force_custom_plan"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_failed_block_leaves_the_next_transaction_planning_afresh(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn, reusing_plans(conn):
            raise RuntimeError("the batch failed")
    async with engine.connect() as conn:
        assert await _plan_mode(conn) == "force_custom_plan"


_WORKSPACE = insert(Workspace.__table__).values(
    name=bindparam("name"),
    default_country="US",
    reopen_window_seconds=60,
    created_at=bindparam("at"),
)
_NAMES = select(Workspace.__table__.c.id, Workspace.__table__.c.name).order_by(
    Workspace.__table__.c.id
)


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
