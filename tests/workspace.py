"""Seeds a workspace for tests through the same provisioning code the CLI uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.config import Settings
from hub.context import Hub
from hub.provisioning import (
    create_api_token,
    create_channel,
    create_user,
    create_workspace,
    draft_account,
)
from timeline.events import ExternalIdentity, IdentityKind, MessageReceived, RawPayload
from timeline.ingest import ChannelContext, IngestRequest
from timeline.models import Conversation, Role
from timeline.outbox import queue_reply

SMS_AUTH_TOKEN = "12345678901234567890123456789012"
SMS_ACCOUNT_SID = "AC" + "1" * 32
OUR_NUMBER = "+15005550006"


@dataclass(frozen=True, slots=True)
class SeededWorkspace:
    id: int
    admin_id: int
    agent_ids: list[int]
    token: str
    sms_channel_id: int
    sms_webhook_url: str
    sms_webhook_path: str


async def seed_workspace(
    hub: Hub,
    *,
    agents: int = 2,
    capacity: int = 5,
    country: str = "US",
    provider_base_url: str | None = None,
    name: str = "Acme",
) -> SeededWorkspace:
    async with hub.engine.begin() as conn:
        workspace_id = await create_workspace(conn, name, default_country=country)
        admin_id = await create_user(
            conn, workspace_id, email=f"admin@{name}.test", name="Admin", role=Role.ADMIN
        )
        agent_ids = [
            await create_user(
                conn,
                workspace_id,
                email=f"agent{i}@{name}.test",
                name=f"Agent {i}",
                capacity=capacity,
                available=True,
            )
            for i in range(agents)
        ]
        token = (await create_api_token(conn, hub.token_key, admin_id, "tests")).token
        draft = draft_account(
            "sms",
            address=OUR_NUMBER,
            credentials={"account_sid": SMS_ACCOUNT_SID, "auth_token": SMS_AUTH_TOKEN},
            provider_base_url=provider_base_url or "http://127.0.0.1:9",
        )
        channel = await create_channel(conn, hub.secrets, workspace_id, draft, name="SMS")
    url = hub.channels.webhook_url("sms", "twilio", channel.webhook_key)
    path = url.removeprefix(hub.settings.base_url)
    return SeededWorkspace(workspace_id, admin_id, agent_ids, token, channel.id, url, path)


async def seed_workspace_apart(settings: Settings) -> SeededWorkspace:
    """A workspace seeded by a hub of its own, stopped after: for tests whose hubs are other
    processes."""
    hub = Hub(settings)
    try:
        return await seed_workspace(hub)
    finally:
        await hub.stop()


def sms_request(
    ws: SeededWorkspace,
    sid: str,
    sender: str,
    *,
    at: datetime = datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    automated: bool = False,
    body: str = "hi",
    country: str = "US",
    reopen_window: timedelta = timedelta(days=7),
) -> IngestRequest:
    """One inbound SMS on the workspace's SMS channel, as the pipeline receives it."""
    context = ChannelContext(ws.sms_channel_id, ws.id, country, reopen_window)
    raw = RawPayload("text/plain", f"{sid}|{sender}|{body}".encode())
    event = MessageReceived(
        channel_account_id=ws.sms_channel_id,
        kind="sms",
        sender=ExternalIdentity(IdentityKind.PHONE, sender),
        external_id=sid,
        occurred_at=at,
        raw_ref=raw.digest,
        body=body,
        automated=automated,
    )
    return IngestRequest(context, raw, [event])


async def queued_reply(
    hub: Hub, workspace_id: int, body: str = "hi", author_user_id: int | None = None
) -> int:
    """A reply queued, as an agent's would be, in the workspace's one conversation; its
    outbound message's id."""
    async with hub.engine.begin() as conn:
        conversation_id = (
            await conn.execute(
                select(Conversation.id).where(Conversation.workspace_id == workspace_id)
            )
        ).scalar_one()
        queued = await queue_reply(
            conn,
            workspace_id=workspace_id,
            conversation_id=conversation_id,
            author_user_id=author_user_id,
            body=body,
        )
    return queued.message_id
