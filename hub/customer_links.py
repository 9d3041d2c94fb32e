"""A customer's link token, issued with the links that hand it over on the workspace's channels
(Telegram: t.me/<bot>?start=<token>); the API and the CLI both issue through here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from channels import registry
from timeline import audit
from timeline.link_tokens import LinkTokens
from timeline.models import ChannelAccount, Customer

accounts = ChannelAccount.__table__
customers = Customer.__table__


@dataclass(frozen=True, slots=True)
class ChannelLink:
    channel_account_id: int
    kind: str
    url: str


@dataclass(frozen=True, slots=True)
class CustomerLink:
    token: str
    expires_at: datetime
    links: list[ChannelLink]


async def issue_customer_link(
    conn: AsyncConnection,
    tokens: LinkTokens,
    workspace_id: int,
    customer_id: int,
    *,
    actor_user_id: int | None,
) -> CustomerLink | None:
    """A token naming the customer, and its link on each active channel that can carry one;
    None when the workspace has no such customer. Recorded in the audit log: whoever holds the
    token can become this customer on a channel."""
    exists = await conn.execute(
        select(customers.c.id)
        .where(customers.c.id == customer_id)
        .where(customers.c.workspace_id == workspace_id)
    )
    if exists.first() is None:
        return None
    issued = tokens.issue(workspace_id, customer_id, datetime.now(UTC))
    rows = await conn.execute(
        select(accounts.c.id, accounts.c.kind, accounts.c.provider, accounts.c.address)
        .where(accounts.c.workspace_id == workspace_id)
        .where(accounts.c.active)
        .order_by(accounts.c.id)
    )
    links = [
        ChannelLink(row.id, row.kind, url)
        for row in rows
        if (url := _link(row.kind, row.provider, row.address, issued.token)) is not None
    ]
    await audit.record(
        conn,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action="customer.link_token_issued",
        entity_type="customer",
        entity_id=customer_id,
        changes={"expires_at": issued.expires_at.isoformat()},
    )
    return CustomerLink(issued.token, issued.expires_at, links)


def _link(kind: str, provider: str, address: str, token: str) -> str | None:
    try:
        spec = registry.provider_spec(kind, provider)
    except registry.UnknownChannelKind:  # an account of a channel no longer installed
        return None
    return spec.link(address, token) if spec.link is not None else None
