"""The migrations build exactly the schema the models describe (collations included), and 0002
downgrades cleanly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Row, text
from sqlalchemy.dialects import postgresql

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


async def _rows(database_url: str, sql: str) -> list[Row[Any]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            return list(await conn.execute(text(sql)))
    finally:
        await engine.dispose()


async def test_the_migrated_schema_matches_the_models(database_url: str) -> None:
    assert await _differences(database_url) == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_migrated_columns_have_the_models_collations(database_url: str) -> None:
    # Alembic's comparison above does not look at collations; key columns depend on theirs.
    dialect = postgresql.dialect()
    expected = {
        (table.name, column.name): collation
        for table in metadata.tables.values()
        for column in table.columns
        if (collation := getattr(column.type.dialect_impl(dialect), "collation", None))
    }
    rows = await _rows(
        database_url,
        "SELECT table_name, column_name, collation_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND collation_name IS NOT NULL",
    )
    found = {(table, column): collation for table, column, collation in rows}
    assert expected  # the key columns (timeline.models.base.key_string)
    assert found == expected


async def test_0002_downgrades_to_0001_and_back(database_url: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0001")
    assert await _differences(database_url) != []
    await asyncio.to_thread(upgrade, database_url)
    assert await _differences(database_url) == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_the_migrated_tables_have_the_models_storage_settings(database_url: str) -> None:
    # Nor at storage parameters: the counters' tables leave room for updates on their pages.
    expected = {
        table.name: [f"{name}={value}" for name, value in options.items()]
        for table in metadata.tables.values()
        if (options := table.dialect_options["postgresql"]["with"])
    }
    rows = await _rows(
        database_url,
        "SELECT relname, reloptions FROM pg_class WHERE relkind = 'r'"
        " AND relnamespace = current_schema()::regnamespace AND reloptions IS NOT NULL",
    )
    found = {table: options for table, options in rows}
    assert expected == {"conversations": ["fillfactor=80"], "customers": ["fillfactor=80"]}
    assert found == expected
