"""What every `switchboard` command shares: its one-line error, the check that the database is
reachable and migrated, and a Hub for one command."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hub.config import Settings

Command = Callable[[Settings, argparse.Namespace], Awaitable[int] | int]


class CommandError(Exception):
    """A command could not do what was asked; the message says why, in one line."""


async def check_schema(engine: AsyncEngine, database_url: str) -> None:
    """CommandError unless the database answers and its schema is at the newest migration (a
    command on a database never migrated ended in a traceback: no such table)."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)  # its notes on loading and reading are noise here
    try:
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        from hub.migrate import alembic_config

        async with engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
        head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    except OSError as error:
        raise CommandError(f"cannot reach the database: {error}") from None
    finally:
        alembic_log.setLevel(level)
    if current != head:
        raise CommandError(
            f"the database schema is at {current or 'nothing'}, not {head}: "
            "run `switchboard migrate`"
        )


async def check_schema_of(settings: Settings) -> None:
    """`check_schema` on an engine of its own, for a process that makes its own afterwards."""
    from hub.db import create_engine

    engine = create_engine(settings.database_url)
    try:
        await check_schema(engine, settings.database_url)
    finally:
        await engine.dispose()


class command_hub:
    """A Hub for one command, on a migrated database, started (without background services)
    and stopped."""

    def __init__(self, settings: Settings) -> None:
        from hub.context import Hub

        self._hub = Hub(settings, jobs_in_process=True)

    async def __aenter__(self) -> Any:
        try:
            await check_schema(self._hub.engine, self._hub.settings.database_url)
        except CommandError:
            await self._hub.stop()
            raise
        await self._hub.start(background=False)
        return self._hub

    async def __aexit__(self, *exc: object) -> None:
        await self._hub.stop()
