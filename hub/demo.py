"""Seeds a demo workspace: agents, one channel per kind that exists, customers; prints how in."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from channels import registry
from channels.base import ChannelSpec, Transport
from hub.context import Hub
from hub.provisioning import (
    create_api_token,
    create_channel,
    create_user,
    create_workspace,
    demo_draft,
)
from timeline.identities import IdentityKey
from timeline.identity_store import attach_identity
from timeline.models import Customer, Role, Workspace

AGENTS = (
    ("admin@demo.switchboard.test", "Ada Admin", Role.ADMIN, False),
    ("manager@demo.switchboard.test", "Max Manager", Role.MANAGER, False),
    ("alice@demo.switchboard.test", "Alice Agent", Role.AGENT, True),
    ("bob@demo.switchboard.test", "Bob Agent", Role.AGENT, True),
)
CUSTOMERS = (
    ("Sara Ahmadi", date(1990, 3, 21), "Asia/Tehran", "fa", "+989123456789"),
    ("John Miller", date(1985, 11, 2), "America/New_York", "en", "+14155550123"),
    ("Lena Vogel", None, "Europe/Berlin", "de", "+4915112345678"),
)


@dataclass(slots=True)
class DemoWorkspace:
    workspace_id: int
    api_token: str
    base_url: str
    agents: list[dict[str, str]] = field(default_factory=list)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "api_token": self.api_token,
            "base_url": self.base_url,
            "agents": self.agents,
            "channels": self.channels,
        }


async def database_is_empty(hub: Hub) -> bool:
    async with hub.engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Workspace))).scalar_one() == 0


async def seed_demo(hub: Hub, provider_base_url: str | None = None) -> DemoWorkspace:
    async with hub.engine.begin() as conn:
        workspace_id = await create_workspace(conn, "Demo workspace", default_country="US")
        demo = DemoWorkspace(workspace_id, "", hub.settings.base_url)
        admin_id = None
        for email, name, role, available in AGENTS:
            password = secrets.token_urlsafe(9)
            user_id = await create_user(
                conn,
                workspace_id,
                email=email,
                name=name,
                role=role,
                password=password,
                available=available,
                capacity=5,
            )
            admin_id = admin_id or user_id
            demo.agents.append({"email": email, "password": password, "role": role, "id": user_id})
        assert admin_id is not None
        demo.api_token = (await create_api_token(conn, hub.token_key, admin_id, "demo")).token
        for spec in registry.specs().values():
            demo.channels[spec.kind] = await _seed_channel(
                hub, conn, workspace_id, spec, provider_base_url
            )
        for name, birthday, timezone, language, phone in CUSTOMERS:
            customer_id = (
                await conn.execute(
                    Customer.__table__.insert().returning(Customer.id),
                    {
                        "workspace_id": workspace_id,
                        "name": name,
                        "name_folded": name.casefold(),
                        "birthday": birthday,
                        "birth_month": birthday.month if birthday else None,
                        "birth_day": birthday.day if birthday else None,
                        "timezone": timezone,
                        "language": language,
                        "attributes": {},
                        "events_count": 0,
                        "created_at": datetime.now(UTC),
                    },
                )
            ).scalar_one()
            await attach_identity(conn, workspace_id, customer_id, IdentityKey("phone", phone))
    return demo


async def _seed_channel(
    hub: Hub,
    conn: AsyncConnection,
    workspace_id: int,
    spec: ChannelSpec,
    provider_base_url: str | None,
) -> dict[str, Any]:
    """The channel's demo account, seeded as its spec describes it."""
    demo = demo_draft(spec, provider_base_url)
    provider, account, draft = demo.provider, demo.account, demo.draft
    channel = await create_channel(
        conn, hub.secrets, workspace_id, draft, name=f"Demo {spec.title}", active=account.active
    )
    webhook_url = (
        hub.channels.webhook_url(spec.kind, provider.name, channel.webhook_key)
        if provider.transport(draft.settings) is Transport.WEBHOOK
        else None
    )
    return {
        "id": channel.id,
        "kind": spec.kind,
        "title": spec.title,
        "provider": provider.name,
        "webhook_url": webhook_url,
        "secret": account.webhook_secret,
        "address": draft.address,
        "active": account.active,
        "hint": account.hint.format(
            webhook_url=webhook_url, secret=account.webhook_secret, id=channel.id
        ),
    }


def describe(demo: DemoWorkspace) -> str:
    lines = [
        f"Demo workspace #{demo.workspace_id} is ready at {demo.base_url}",
        "",
        "Logins:",
        *(f"  {a['email']:<32} {a['password']}  ({a['role']})" for a in demo.agents),
        "",
        f"API token (admin): {demo.api_token}",
    ]
    for channel in demo.channels.values():
        receives = (
            f"webhook {channel['webhook_url']}" if channel["webhook_url"] else "fetches"
        ) + ("" if channel["active"] else ", inactive")
        lines.append(
            f"{channel['title']} channel #{channel['id']} ({channel['provider']},"
            f" {channel['address']}): {receives}"
        )
        if channel["secret"]:
            lines.append(f"  signing secret: {channel['secret']}")
        if channel["hint"]:
            lines.append(f"  {channel['hint']}")
    lines += [
        "",
        "Read a customer (by any spelling of their number):",
        f"  curl -H 'Authorization: Bearer {demo.api_token}' "
        f"'{demo.base_url}/api/v1/customers?q=%2B14155550123'",
    ]
    return "\n".join(lines)
