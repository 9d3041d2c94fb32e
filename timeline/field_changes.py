"""Writes field history (timeline.models.FieldChange) in the transaction of the change: only
the fields whose value changed, each with who changed it and the request it came with."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.actor import Actor
from timeline.audit import current_origin
from timeline.models import ChangeSource, FieldChange, RecordType

field_changes = FieldChange.__table__


@dataclass(frozen=True, slots=True)
class FieldChanged:
    """One field of one record, before and after; `actor_user_id` None: the hub's doing."""

    workspace_id: int
    record_type: RecordType
    record_id: int
    field: str
    previous: Any
    new: Any
    actor_user_id: int | None
    source: ChangeSource


def by_user(
    actor: Actor, record_type: RecordType, record_id: int, values: Mapping[str, tuple[Any, Any]]
) -> list[FieldChanged]:
    """The actor's changes of one record: each field's (previous, new) value."""
    return [
        FieldChanged(
            actor.workspace_id,
            record_type,
            record_id,
            field,
            previous,
            new,
            actor.user_id,
            ChangeSource.USER,
        )
        for field, (previous, new) in values.items()
    ]


def by_hub(
    source: ChangeSource,
    workspace_id: int,
    record_type: RecordType,
    record_id: int,
    field: str,
    previous: Any,
    new: Any,
) -> FieldChanged:
    """A change the hub made itself (no user), and what made it."""
    return FieldChanged(workspace_id, record_type, record_id, field, previous, new, None, source)


CUSTOM_FIELD_PREFIX = "field:"


def custom_field(name: str) -> str:
    """How history names a customer's custom field."""
    return CUSTOM_FIELD_PREFIX + name


def change_rows(changes: Sequence[FieldChanged], at: datetime) -> list[dict[str, Any]]:
    """The rows of the changes that changed something, timestamps written as ISO 8601."""
    request_id = current_origin().request_id
    return [
        {
            "workspace_id": change.workspace_id,
            "record_type": change.record_type,
            "record_id": change.record_id,
            "field": change.field,
            "previous": _json(change.previous),
            "new": _json(change.new),
            "actor_user_id": change.actor_user_id,
            "source": change.source,
            "changed_at": at,
            "request_id": request_id,
        }
        for change in changes
        if change.previous != change.new
    ]


async def record_changes(conn: AsyncConnection, changes: Sequence[FieldChanged]) -> None:
    """The changes that changed something, in one statement (none: no statement)."""
    if rows := change_rows(changes, datetime.now(UTC)):
        await conn.execute(field_changes.insert(), rows)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
