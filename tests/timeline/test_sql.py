"""Dialect helpers (timeline/sql.py) that change how PostgreSQL runs a transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hub.db import create_engine
from timeline.sql import reusing_plans


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
