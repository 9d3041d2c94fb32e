"""The migrations build exactly the schema the models describe, and 0002 downgrades cleanly."""

from __future__ import annotations

import asyncio

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from hub.db import create_engine
from hub.migrate import alembic_config, upgrade
from hub.schema import metadata


async def _differences(database_url: str) -> list[object]:
    engine = create_engine(database_url)

    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()


async def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    assert await _differences(database_url) == []


async def test_0002_downgrades_to_0001_and_back(database_url: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0001")
    assert await _differences(database_url) != []
    await asyncio.to_thread(upgrade, database_url)
    assert await _differences(database_url) == []
