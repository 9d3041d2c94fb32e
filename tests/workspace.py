"""Seeds a workspace for tests through the same provisioning code the CLI uses."""

from __future__ import annotations

from dataclasses import dataclass

from hub.context import Hub
from hub.provisioning import create_api_token, create_channel, create_user, create_workspace
from timeline.models import Role

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
        token = await create_api_token(conn, admin_id, "tests")
        channel = await create_channel(
            conn,
            hub.secrets,
            workspace_id,
            kind="sms",
            provider="twilio",
            name="SMS",
            address=OUR_NUMBER,
            credentials={"account_sid": SMS_ACCOUNT_SID, "auth_token": SMS_AUTH_TOKEN},
            provider_base_url=provider_base_url or "http://127.0.0.1:9",
        )
    url = hub.channels.webhook_url("sms", "twilio", channel.id)
    path = url.removeprefix(hub.settings.base_url)
    return SeededWorkspace(workspace_id, admin_id, agent_ids, token, channel.id, url, path)
