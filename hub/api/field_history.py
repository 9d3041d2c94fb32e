"""Field history: the changes of one customer or one conversation, newest first, as the field
rules let the caller see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from hub.api.framework import ApiRoutes, Call
from hub.api.paging import PageQuery, decode_cursor, encode_cursor
from hub.web_keys import HUB
from timeline.customer_view import record_sensitive_view
from timeline.field_history import HistoryEntry, read_history
from timeline.models import ChangeSource, RecordType
from timeline.policy import Permission

routes = ApiRoutes()

SYSTEM = "system"


class ChangedBy(BaseModel):
    user_id: int | None = Field(description="the user who made the change; null: the hub")
    name: str = Field(description=f"the user's name, or `{SYSTEM}` for the hub itself")
    source: ChangeSource = Field(
        description="user: a person; ingest: a customer's message (opening a conversation) or "
        "a provider vouching for an identity (merging customers); scheduler: a snoozed "
        "conversation waking; routing: an agent chosen for a conversation"
    )


class FieldChangeOut(BaseModel):
    id: int
    field: str = Field(
        description="a conversation's status, assignee_id, team_id or snoozed_until; a "
        "customer's custom field as `field:<name>`, a contact detail by its kind (phone, "
        "email...), or merged_customer (the id of a customer this one absorbed)"
    )
    previous: Any = Field(description="the value before the change; null: none")
    new: Any = Field(description="the value after the change; null: none (cleared, removed)")
    actor: ChangedBy
    changed_at: datetime


class HistoryPage(BaseModel):
    items: list[FieldChangeOut]
    next_cursor: str | None


@routes.add(
    "GET",
    "/customers/{customer_id}/history",
    summary="A customer's field history, newest first",
    tag="customers",
    response=HistoryPage,
    query=PageQuery,
    permission=Permission.CUSTOMERS_READ,
)
async def customer_history(call: Call[Any, PageQuery]) -> HistoryPage:
    """Changes of a detail you may not see (a contact detail without customers.contact_details,
    a sensitive custom field without customers.sensitive_fields) are left out. A page showing
    sensitive details writes `customer.sensitive_viewed` to the audit log, as the customer's
    own record does."""
    return await _history(call, RecordType.CUSTOMER, call.ids["customer_id"])


@routes.add(
    "GET",
    "/conversations/{conversation_id}/history",
    summary="A conversation's field history (status, agent, team, snooze), newest first",
    tag="conversations",
    response=HistoryPage,
    query=PageQuery,
    permission=Permission.CONVERSATIONS_READ,
)
async def conversation_history(call: Call[Any, PageQuery]) -> HistoryPage:
    return await _history(call, RecordType.CONVERSATION, call.ids["conversation_id"])


async def _history(
    call: Call[Any, PageQuery], record_type: RecordType, record_id: int
) -> HistoryPage:
    hub, principal = call.request.app[HUB], call.principal
    before_id = decode_cursor(call.query.cursor, int)[0] if call.query.cursor else None
    async with hub.reads.connect() as conn:
        page = await read_history(
            conn,
            principal.actor,
            record_type,
            record_id,
            before_id=before_id,
            limit=call.query.limit,
        )
    if page.viewed is not None:
        async with hub.engine.begin() as conn:
            await record_sensitive_view(
                conn, principal.workspace_id, principal.user_id, page.viewed
            )
    next_cursor = encode_cursor(page.entries[-1].id) if page.more else None
    return HistoryPage(items=[_out(entry) for entry in page.entries], next_cursor=next_cursor)


def _out(entry: HistoryEntry) -> FieldChangeOut:
    by = ChangedBy.model_construct(
        user_id=entry.actor_user_id,
        name=entry.actor_name if entry.actor_user_id is not None else SYSTEM,
        source=ChangeSource(entry.source),
    )
    return FieldChangeOut.model_construct(
        id=entry.id,
        field=entry.field,
        previous=entry.previous,
        new=entry.new,
        actor=by,
        changed_at=entry.changed_at,
    )
