"""Makes the test's real database refuse some rows, as it would a value it cannot store: a
trigger that raises a constraint violation for timeline events whose body holds a word."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_SQLITE = (
    "CREATE TRIGGER refuse_{word} BEFORE INSERT ON timeline_events"
    " WHEN NEW.body LIKE '%{word}%' BEGIN SELECT RAISE(ABORT, '{word} refused'); END",
)
_POSTGRES = (
    "CREATE FUNCTION refuse_{word}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF NEW.body LIKE '%{word}%' THEN"
    " RAISE EXCEPTION '{word} refused' USING ERRCODE = 'check_violation'; END IF;"
    " RETURN NEW; END $$",
    "CREATE TRIGGER refuse_{word} BEFORE INSERT ON timeline_events FOR EACH ROW"
    " EXECUTE FUNCTION refuse_{word}()",
)


async def refuse_bodies_containing(engine: AsyncEngine, word: str) -> None:
    """From now on the database refuses any timeline event whose body contains `word`
    (letters only)."""
    assert word.isalpha()
    statements = _POSTGRES if engine.dialect.name == "postgresql" else _SQLITE
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement.format(word=word)))
