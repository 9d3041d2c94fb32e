"""Alembic environment: runs migrations on the async engine the hub itself uses."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from hub.db import create_engine
from hub.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _enforce_foreign_keys(connection, False)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    if sqlite:
        _enforce_foreign_keys(connection, True)


def _enforce_foreign_keys(connection: Connection, enforce: bool) -> None:
    """SQLite alters a table by copying it into a new one and dropping the old: with foreign
    keys enforced, dropping a table that other rows refer to fails. They are off while
    migrations run, and checked before they are on again (SQLite ignores the setting inside a
    transaction, hence the commits)."""
    if enforce:
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"migrations left rows with broken foreign keys: {broken[:5]}")
    connection.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if enforce else 'OFF'}")
    connection.commit()


async def _migrate_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_migrate_online())
