"""Link tokens senders present (a Telegram `/start` deep link): a valid one makes the sender the
customer it names, merging as vouched identities do; any other changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from timeline.identities import IdentityKey
from timeline.identity_store import find_identities
from timeline.link_tokens import LinkTokens
from timeline.models import Customer
from timeline.vouched_identities import merge_customers

customers = Customer.__table__


@dataclass(frozen=True, slots=True)
class ClaimedLink:
    """A stored message's sender presenting a link token, in that message's workspace."""

    workspace_id: int
    sender: IdentityKey
    token: str


async def join_claimed(
    conn: AsyncConnection, tokens: LinkTokens, claims: list[ClaimedLink]
) -> None:
    """Make each sender whose token verifies the customer it names (their customer absorbed by
    the named one, which keeps its history).

    The caller holds the senders' identity locks. The sender's customer is read here, not
    taken from the batch: an earlier merge in the batch (a vouched phone) may have moved it.
    """
    now = datetime.now(UTC)
    for claim in claims:
        named = tokens.customer_of(claim.token, claim.workspace_id, now)
        if named is None or not await _exists(conn, claim.workspace_id, named):
            continue
        sender = (await find_identities(conn, claim.workspace_id, [claim.sender]))[claim.sender]
        if sender.customer_id != named:
            await merge_customers(conn, claim.workspace_id, keep=named, absorb=sender.customer_id)


async def _exists(conn: AsyncConnection, workspace_id: int, customer_id: int) -> bool:
    """Whether the customer is still the workspace's (one merged into another is gone)."""
    found = await conn.execute(
        select(customers.c.id)
        .where(customers.c.id == customer_id)
        .where(customers.c.workspace_id == workspace_id)
    )
    return found.first() is not None
