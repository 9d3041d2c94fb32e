"""The audit log for admins: entries of their workspace, filtered, newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from hub.api.framework import ApiRoutes, Call, Id, Instant, Text
from hub.api.paging import Cursor, PageLimit, decode_cursor, encode_cursor
from hub.web_keys import HUB
from timeline.audit_reads import AuditFilter, list_entries
from timeline.policy import Permission

routes = ApiRoutes()


class AuditEntryOut(BaseModel):
    id: int
    actor_user_id: int | None = Field(description="who acted; null: the hub itself or unknown")
    action: str
    entity_type: str
    entity_id: str
    changes: dict[str, Any]
    at: datetime
    client_address: str | None
    request_id: str | None
    os_user: str | None = Field(description="the operating-system user of a CLI command")
    previous_hash: str
    entry_hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


class AuditQuery(BaseModel):
    actor_user_id: Id | None = None
    action: Text | None = Field(None, max_length=80, description="as `conversation.assigned`")
    entity_type: Text | None = Field(None, max_length=40)
    entity_id: Text | None = Field(None, max_length=40)
    since: Instant | None = Field(None, description="entries at or after this moment")
    until: Instant | None = Field(None, description="entries before this moment")
    limit: PageLimit = 50
    cursor: Cursor | None = None


@routes.add(
    "GET",
    "/audit",
    summary="Read the audit log (admins)",
    tag="audit",
    permission=Permission.AUDIT_READ,
    response=AuditPage,
    query=AuditQuery,
)
async def get_audit(call: Call[Any, AuditQuery]) -> AuditPage:
    query = call.query
    before_id = decode_cursor(query.cursor, int)[0] if query.cursor else None
    wanted = AuditFilter(
        query.actor_user_id,
        query.action,
        query.entity_type,
        query.entity_id,
        query.since,
        query.until,
    )
    async with call.request.app[HUB].reads.connect() as conn:
        rows = await list_entries(
            conn, call.principal.workspace_id, wanted, before_id=before_id, limit=query.limit + 1
        )
    page = rows[: query.limit]
    next_cursor = encode_cursor(page[-1].id) if len(rows) > query.limit else None
    return AuditPage(
        items=[AuditEntryOut.model_validate(row._mapping) for row in page], next_cursor=next_cursor
    )
