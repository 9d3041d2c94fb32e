"""Declarative base, id and key types that work on SQLite and PostgreSQL, and the UTC clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeEngine

BigId = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids on PostgreSQL; INTEGER PRIMARY KEY (rowid) on SQLite."""

MAX_BIGINT = 2**63 - 1
"""The largest value of a BigId (and of any 64-bit integer column)."""
MAX_INTEGER = 2**31 - 1
"""The largest value of an INTEGER column on PostgreSQL."""


def key_string(length: int) -> TypeEngine[str]:
    """An opaque key (a provider's id, a digest, a normalized phone or address) compared byte
    by byte: PostgreSQL's `C` collation, not the database's linguistic one.

    The ingest looks each event up and inserts it by such keys; under a linguistic collation
    every index comparison goes through the locale's string comparison, a measurable share of
    PostgreSQL's CPU per event even on a `C.UTF-8` database (docs/performance.md).
    Equality is the same either way (the database's default collations are deterministic).
    SQLite compares bytes already.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


ROOM_FOR_UPDATES = {"postgresql_with": {"fillfactor": 80}}
"""Table options for rows updated on every message (conversations', customers' counters): a
fifth of each page stays free, so an update can keep the row's new version on its page without
writing every index again (PostgreSQL's HOT updates; docs/performance.md)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always stored and returned as tz-aware UTC (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a tz-aware UTC one is required")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every model; constraint names are fixed so migrations are stable."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}
