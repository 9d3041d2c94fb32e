"""PostgreSQL connections (hub/db.py): the ingest's keyed statements seek their rows."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db import create_engine
from hub.provisioning import create_workspace

ROWS = 5000


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_batch_update_seeks_its_rows_in_a_small_workspace(engine: AsyncEngine) -> None:
    """A few thousand customers, analyzed: PostgreSQL's default costs would scan them all."""
    async with engine.begin() as conn:
        workspace_id = await create_workspace(conn, "Acme", default_country="US")
        await conn.execute(
            text(
                "INSERT INTO customers (workspace_id, name, name_folded, attributes,"
                " events_count, created_at) SELECT :w, '', '', '{}', 1, now()"
                " FROM generate_series(1, :n)"
            ),
            {"w": workspace_id, "n": ROWS},
        )
        await conn.execute(text("ANALYZE customers"))
    async with engine.connect() as conn:
        plan = "\n".join(
            row[0]
            for row in await conn.execute(
                text(
                    "EXPLAIN UPDATE customers SET events_count = customers.events_count + 1"
                    " FROM unnest(CAST(:ids AS bigint[])) AS batch(id)"
                    " WHERE customers.id = batch.id"
                ),
                {"ids": list(range(1, ROWS, ROWS // 32))},
            )
        )
    assert "Seq Scan on customers" not in plan, plan
    assert "pk_customers" in plan, plan
