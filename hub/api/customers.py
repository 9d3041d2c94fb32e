"""Customers: list and search (name, phone, email), one customer, and their timeline, as the
field rules let the caller see them (timeline.policy); the link token that lets a customer say
who they are on a channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Integer, bindparam, select, tuple_

from hub.api.framework import ApiRoutes, Call, Text
from hub.api.paging import Cursor, PageLimit, PageQuery, decode_cursor, encode_cursor
from hub.auth import Principal
from hub.customer_links import issue_customer_link
from hub.errors import not_found
from hub.web_keys import HUB
from timeline.customer_view import (
    hidden_fields,
    record_sensitive_view,
    search_condition,
    sensitive_shown,
    visible_identities,
)
from timeline.models import Customer, MessageVersion, TimelineEvent
from timeline.policy import Permission, visible_event_meta, visible_field_values

routes = ApiRoutes()
customers = Customer.__table__
events = TimelineEvent.__table__
message_versions = MessageVersion.__table__


class IdentityOut(BaseModel):
    kind: str
    value: str
    unreachable: str | None = None
    """Why nothing sent to this handle arrives (the customer blocked the bot), if it does not."""


class CustomerOut(BaseModel):
    id: int
    name: str
    birthday: date | None
    timezone: str | None
    language: str | None
    attributes: dict[str, Any] = Field(
        description="custom field values by field name; sensitive ones only for roles with "
        "customers.sensitive_fields"
    )
    identities: list[IdentityOut] = Field(
        description="how the customer is reached; phone numbers and email addresses only for "
        "roles with customers.contact_details"
    )
    events_count: int
    last_seen_at: datetime | None
    created_at: datetime


class ChannelLinkOut(BaseModel):
    channel_account_id: int
    kind: str
    url: str = Field(description="the link that hands the token to this channel")


class LinkTokenOut(BaseModel):
    token: str = Field(
        max_length=64,
        description="names the customer; a customer presenting it on a channel becomes this one",
    )
    expires_at: datetime
    links: list[ChannelLinkOut] = Field(
        description="the workspace's active channels that can carry the token, with their links"
    )


class CustomerPage(BaseModel):
    items: list[CustomerOut]
    next_cursor: str | None


class CustomerQuery(BaseModel):
    q: Text | None = Field(
        None, max_length=200, description="a name prefix, a phone number or an email address"
    )
    limit: PageLimit = 50
    cursor: Cursor | None = None


class MessageVersionOut(BaseModel):
    body: str = Field(description="the text the message had before an edit replaced it")
    written_at: datetime = Field(description="when this text was written")


class TimelineEventOut(BaseModel):
    id: int
    kind: str
    direction: str
    conversation_id: int | None
    channel_account_id: int | None
    author_user_id: int | None
    external_id: str | None
    subject: str | None
    body: str = Field(description="what was written this time; a reply's quoted history is apart")
    quoted: str | None = Field(
        None, description="the history (and signature) a reply quoted below its body, if any"
    )
    quoted_html: str | None = Field(None, description="the same for the HTML in meta.html")
    attachments: list[dict[str, Any]]
    meta: dict[str, Any]
    occurred_at: datetime
    edited_at: datetime | None = Field(
        None, description="when the customer last edited the message; null: never edited"
    )
    versions: list[MessageVersionOut] = Field(
        default_factory=list,
        description="the texts an edited message had before, oldest first",
    )

    @classmethod
    def of(
        cls, data: dict[str, Any], versions: list[MessageVersionOut], principal: Principal
    ) -> TimelineEventOut:
        """An event row as the API shows it to `principal`: the quoted history out of meta, in
        its own fields; the customer's handles in meta only for those who see them."""
        meta = visible_event_meta(principal.permissions, data.pop("meta"))
        quoted = {name: meta.pop(name, None) for name in _QUOTED}
        # Built without validation: every value comes typed from the database's own columns.
        return cls.model_construct(**data, **quoted, meta=meta, versions=versions)


_QUOTED = ("quoted", "quoted_html")
"""TimelineEventOut fields kept in the event's meta column."""
_NOT_COLUMNS = (*_QUOTED, "versions")


class TimelinePage(BaseModel):
    items: list[TimelineEventOut]
    next_cursor: str | None


@routes.add(
    "GET",
    "/customers",
    summary="List or search customers",
    tag="customers",
    response=CustomerPage,
    query=CustomerQuery,
    permission=Permission.CUSTOMERS_READ,
)
async def list_customers(call: Call[Any, CustomerQuery]) -> CustomerPage:
    """A phone number or an email address finds nobody for a role that may not see them."""
    principal = call.principal
    query = select(customers).where(customers.c.workspace_id == principal.workspace_id)
    async with call.request.app[HUB].reads.connect() as conn:
        if call.query.q:
            query = query.where(
                await search_condition(
                    conn, principal.permissions, principal.workspace_id, call.query.q
                )
            )
        if call.query.cursor:
            (after,) = decode_cursor(call.query.cursor, int)
            query = query.where(customers.c.id < after)
        rows = (
            await conn.execute(query.order_by(customers.c.id.desc()).limit(call.query.limit + 1))
        ).all()
        page = rows[: call.query.limit]
        seen = await _seen(conn, principal, [row.id for row in page])
    next_cursor = encode_cursor(page[-1].id) if len(rows) > call.query.limit else None
    return CustomerPage(items=[seen.customer(row) for row in page], next_cursor=next_cursor)


@routes.add(
    "GET",
    "/customers/{customer_id}",
    summary="Get one customer",
    tag="customers",
    response=CustomerOut,
    permission=Permission.CUSTOMERS_READ,
)
async def get_customer(call: Call[Any, Any]) -> CustomerOut:
    """Showing sensitive custom fields or contact details writes `customer.sensitive_viewed`
    to the audit log (names only); a list page does not (timeline.customer_view)."""
    hub = call.request.app[HUB]
    principal = call.principal
    async with hub.reads.connect() as conn:
        row = (
            await conn.execute(
                select(customers)
                .where(customers.c.id == call.ids["customer_id"])
                .where(customers.c.workspace_id == principal.workspace_id)
            )
        ).first()
        if row is None:
            raise not_found("customer")
        shown = (await _seen(conn, principal, [row.id])).customer(row)
        viewed = await sensitive_shown(
            conn,
            principal.workspace_id,
            row.id,
            field_names=shown.attributes.keys(),
            identity_kinds=[identity.kind for identity in shown.identities],
        )
    if viewed is not None:
        async with hub.engine.begin() as conn:
            await record_sensitive_view(conn, principal.workspace_id, principal.user_id, viewed)
    return shown


@routes.add(
    "POST",
    "/customers/{customer_id}/link-token",
    summary="Issue a token linking a channel's user to this customer (a Telegram deep link)",
    tag="customers",
    response=LinkTokenOut,
    status=201,
    permission=Permission.CUSTOMERS_WRITE,
)
async def post_link_token(call: Call[Any, Any]) -> LinkTokenOut:
    hub = call.request.app[HUB]
    async with hub.engine.begin() as conn:
        issued = await issue_customer_link(
            conn,
            hub.link_tokens,
            call.principal.workspace_id,
            call.ids["customer_id"],
            actor_user_id=call.principal.user_id,
        )
    if issued is None:
        raise not_found("customer")
    return LinkTokenOut(
        token=issued.token,
        expires_at=issued.expires_at,
        links=[
            ChannelLinkOut(channel_account_id=link.channel_account_id, kind=link.kind, url=link.url)
            for link in issued.links
        ],
    )


@routes.add(
    "GET",
    "/customers/{customer_id}/timeline",
    summary="A customer's timeline, newest first",
    tag="customers",
    response=TimelinePage,
    query=PageQuery,
    permission=Permission.CUSTOMERS_READ,
)
async def customer_timeline(call: Call[Any, PageQuery]) -> TimelinePage:
    customer_id = call.ids["customer_id"]
    workspace_id = call.principal.workspace_id
    async with call.request.app[HUB].reads.connect() as conn:
        query, params = timeline_page_query(customer_id, workspace_id, call.query)
        result = await conn.execute(query, params)
        columns, rows = list(result.keys()), result.all()
        if not rows and not await _customer_exists(conn, workspace_id, customer_id):
            raise not_found("customer")
        page = rows[: call.query.limit]
        versions = await _versions_of(conn, [row.id for row in page if row.edited_at])
    next_cursor = (
        encode_cursor(page[-1].occurred_at, page[-1].id) if len(rows) > call.query.limit else None
    )
    items = [
        TimelineEventOut.of(
            dict(zip(columns, row, strict=True)), versions.get(row.id, []), call.principal
        )
        for row in page
    ]
    return TimelinePage.model_construct(items=items, next_cursor=next_cursor)


async def _versions_of(conn: Any, event_ids: list[int]) -> dict[int, list[MessageVersionOut]]:
    """The earlier texts of the page's edited messages, oldest first (none: no query)."""
    found: dict[int, list[MessageVersionOut]] = {}
    if event_ids:
        rows = await conn.execute(
            select(
                message_versions.c.event_id, message_versions.c.body, message_versions.c.written_at
            )
            .where(message_versions.c.event_id.in_(event_ids))
            .order_by(
                message_versions.c.event_id,
                message_versions.c.written_at,
                message_versions.c.version,
            )
        )
        for row in rows:
            found.setdefault(row.event_id, []).append(
                MessageVersionOut.model_construct(body=row.body, written_at=row.written_at)
            )
    return found


async def _customer_exists(conn: Any, workspace_id: int, customer_id: int) -> bool:
    found = await conn.execute(
        select(customers.c.id)
        .where(customers.c.id == customer_id)
        .where(customers.c.workspace_id == workspace_id)
    )
    return found.first() is not None


def _timeline_pages() -> tuple[Any, Any]:
    """The newest page and the page after a cursor, built once: only their values change."""
    columns = [events.c[name] for name in TimelineEventOut.model_fields if name not in _NOT_COLUMNS]
    newest = (
        select(*columns)
        .where(events.c.customer_id == bindparam("customer_id"))
        .where(events.c.workspace_id == bindparam("workspace_id"))
        .order_by(events.c.occurred_at.desc(), events.c.id.desc())
        .limit(bindparam("rows", type_=Integer()))
    )
    after = newest.where(
        tuple_(events.c.occurred_at, events.c.id)
        < tuple_(
            bindparam("after_at", type_=events.c.occurred_at.type),
            bindparam("after_id", type_=events.c.id.type),
        )
    )
    return newest, after


_NEWEST_PAGE, _PAGE_AFTER = _timeline_pages()


def timeline_page_query(
    customer_id: int, workspace_id: int, page: PageQuery
) -> tuple[Any, dict[str, Any]]:
    """Keyset pagination on (occurred_at, id): a deep page costs what the first one does.

    Another workspace's customer has no events here: every event row carries its workspace.
    One more row than the page is asked for, to know whether a next page exists.
    """
    params: dict[str, Any] = {
        "customer_id": customer_id,
        "workspace_id": workspace_id,
        "rows": page.limit + 1,
    }
    if not page.cursor:
        return _NEWEST_PAGE, params
    params["after_at"], params["after_id"] = decode_cursor(page.cursor, datetime, int)
    return _PAGE_AFTER, params


@dataclass(frozen=True, slots=True)
class _Seen:
    """What the caller may see of a page of customers: their identities (contact details
    left out for roles without customers.contact_details) and which fields are sensitive."""

    principal: Principal
    handles: dict[int, list[IdentityOut]]
    sensitive: frozenset[str]

    def customer(self, row: Any) -> CustomerOut:
        values = visible_field_values(
            self.principal.permissions, row._mapping["attributes"], self.sensitive
        )
        return CustomerOut(
            **{name: row._mapping[name] for name in CustomerOut.model_fields if name not in _RULED},
            attributes=values,
            identities=self.handles[row.id],
        )


_RULED = ("attributes", "identities")
"""CustomerOut fields the field rules decide."""


async def _seen(conn: Any, principal: Principal, customer_ids: list[int]) -> _Seen:
    handles = await visible_identities(conn, principal.permissions, customer_ids)
    return _Seen(
        principal,
        {
            customer_id: [
                IdentityOut(kind=shown.kind, value=shown.value, unreachable=shown.unreachable)
                for shown in found
            ]
            for customer_id, found in handles.items()
        },
        await hidden_fields(conn, principal.permissions, principal.workspace_id),
    )
