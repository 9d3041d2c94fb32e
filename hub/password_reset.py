"""Password reset by emailed link: a single-use token that expires within the hour, kept only as
a keyed hash, mailed through the workspace's mail channel by the outbox; spending it sets the
password and ends every session of the user."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from channels.registry import UnknownChannelKind, provider_spec
from hub.crypto import KeyedHash
from hub.errors import too_many_failures
from hub.models import PasswordResetLink
from hub.passwords import set_password
from hub.sessions import SessionStore
from hub.shared_failures import FailureCounts
from timeline import audit
from timeline.errors import Invalid
from timeline.events import ExternalIdentity, IdentityKind
from timeline.models import ChannelAccount, User
from timeline.outbox import queue_notice

LINK_LIFETIME = timedelta(hours=1)
REQUESTS_PER_WINDOW = 3
REQUEST_WINDOW_SECONDS = 15 * 60
"""At most 3 links asked for one email from one address per 15 minutes: nobody fills a
colleague's mailbox with them."""
REQUESTS_PER_ADDRESS = 20
"""At most 20 asked from one address per 15 minutes, whatever the emails: nobody has the hub
mail every user of a workspace again and again from one address."""
RESET_PATH = "/reset-password"
"""Where the link points, on the hub's base URL: the web inbox's page asks for the new
password and sends it with the token to POST /api/v1/password-reset/complete."""

links = PasswordResetLink.__table__
users = User.__table__
channels = ChannelAccount.__table__


@dataclass(frozen=True, slots=True)
class QueuedLink:
    user_id: int
    message_id: int


class PasswordResets:
    """Reset links of one hub: hashed with its key, pointing at its base URL."""

    def __init__(
        self,
        hasher: KeyedHash,
        sessions: SessionStore,
        requests: FailureCounts,
        address_requests: FailureCounts,
        base_url: str,
    ) -> None:
        """`requests`: counts of links asked per (email, address), within REQUESTS_PER_WINDOW
        per REQUEST_WINDOW_SECONDS; `address_requests`: per address, within
        REQUESTS_PER_ADDRESS in the same window."""
        self._hasher = hasher
        self._sessions = sessions
        self._requests = requests
        self._address_requests = address_requests
        self._base_url = base_url

    async def send_links(
        self, engine: AsyncEngine, email: str, workspace_id: int | None, address: str
    ) -> list[QueuedLink]:
        """A link for each of the email's accounts (in `workspace_id` only, if given), queued
        in the outbox and committed; the caller enqueues their sending. An account whose
        workspace has no active channel that sends mail gets none (the audit log says so to
        its admins): the caller answers alike whatever was queued, so nobody learns who has an
        account. 429 past the requests allowed for the (email, address), or for the address
        whatever the emails."""
        email = email.strip().lower()
        asked = f"{email}\n{address}"
        if (wait := await self._address_requests.retry_after(address)) is not None:
            raise too_many_failures(
                wait, f"reset links were asked from this address too often: try again in {wait} s"
            )
        if (wait := await self._requests.retry_after(asked)) is not None:
            raise too_many_failures(
                wait, f"reset links were asked for this email too often: try again in {wait} s"
            )
        await self._requests.record_failure(asked)
        await self._address_requests.record_failure(address)
        async with engine.begin() as conn:
            return await self._queue_links(conn, email, workspace_id)

    async def _queue_links(
        self, conn: AsyncConnection, email: str, workspace_id: int | None
    ) -> list[QueuedLink]:
        query = (
            select(users.c.id, users.c.workspace_id, users.c.email)
            .where(users.c.email == email)
            .where(users.c.deactivated_at.is_(None))
        )
        if workspace_id is not None:
            query = query.where(users.c.workspace_id == workspace_id)
        queued = []
        for user in await conn.execute(query.order_by(users.c.id)):
            channel_id = await self._mail_channel(conn, user.workspace_id)
            if channel_id is None:
                await _audit(conn, user, "user.password_reset_undeliverable")
                continue
            token = secrets.token_urlsafe(32)
            await conn.execute(
                links.insert(),
                {
                    "user_id": user.id,
                    "token_hash": self._digest(token),
                    "expires_at": datetime.now(UTC) + LINK_LIFETIME,
                },
            )
            message_id = await queue_notice(
                conn,
                workspace_id=user.workspace_id,
                channel_account_id=channel_id,
                recipient=ExternalIdentity(IdentityKind.EMAIL, user.email),
                subject="Reset your Switchboard password",
                body=_mail_text(f"{self._base_url}{RESET_PATH}#token={token}"),
            )
            await _audit(conn, user, "user.password_reset_sent")
            queued.append(QueuedLink(user.id, message_id))
        return queued

    async def complete(self, conn: AsyncConnection, token: str, new_password: str) -> list[int]:
        """Spend the link (once, before it expires) on a new password; the sessions ended."""
        now = datetime.now(UTC)
        spent = (
            await conn.execute(
                update(links)
                .where(links.c.token_hash == self._digest(token))
                .where(links.c.used_at.is_(None))
                .where(links.c.expires_at > now)
                .values(used_at=now)
                .returning(links.c.user_id)
            )
        ).first()
        if spent is None:
            raise Invalid({"token": "this reset link is unknown, used or expired: ask again"})
        workspace_id = (
            await conn.execute(select(users.c.workspace_id).where(users.c.id == spent.user_id))
        ).scalar_one()
        return await set_password(
            conn, self._sessions, workspace_id, None, spent.user_id, new_password, keep=None
        )

    async def _mail_channel(self, conn: AsyncConnection, workspace_id: int) -> int | None:
        """The workspace's first active channel whose adapter carries a subject: mail."""
        rows = await conn.execute(
            select(channels.c.id, channels.c.kind, channels.c.provider)
            .where(channels.c.workspace_id == workspace_id)
            .where(channels.c.active.is_(True))
            .order_by(channels.c.id)
        )
        for row in rows:
            try:
                adapter = provider_spec(row.kind, row.provider).adapter
            except UnknownChannelKind:
                continue  # its package is not installed here
            if adapter.capabilities.subject:
                return row.id
        return None

    def _digest(self, token: str) -> str:
        return self._hasher.digest("password-reset", token)


async def _audit(conn: AsyncConnection, user: Row[Any], action: str) -> None:
    """An entry on the user's account; nobody signed in asked."""
    await audit.record(
        conn,
        workspace_id=user.workspace_id,
        actor_user_id=None,
        action=action,
        entity_type="user",
        entity_id=user.id,
    )


def _mail_text(link: str) -> str:
    return (
        "Someone asked to reset the password of your Switchboard account.\n\n"
        f"To choose a new password, open this link within the hour:\n{link}\n\n"
        "It works once. If you did not ask for it, ignore this mail: your password stays as it "
        "is.\n"
    )
