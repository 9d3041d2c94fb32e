"""One contract for every installed channel, the test-only echo channel included: its recorded
fixtures go through the real HTTP stack (a webhook channel) or the pull sink (a channel that
fetches), and what they leave in the timeline and the quarantine is what the names promise.

Fixture names say what each payload is: `message_received__*` becomes at least one received
message on the timeline, `malformed__*` is answered 400 and kept in the quarantine,
`unsupported__*` is answered 200 and stored nowhere. Other fixtures (status callbacks, the
provider's API answers) are the channel's own tests' business.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from channels import registry
from channels.base import ChannelSpec, ProviderSpec, Transport
from hub.channel_directory import Channel
from hub.context import Hub
from hub.demo import seed_demo
from hub.provisioning import create_channel, create_workspace, demo_draft
from hub.pull import ChannelPullSink
from tests.conftest import ServedHub
from tests.workspace import seed_workspace
from timeline.events import RawPayload
from timeline.models import QuarantinedPayload, TimelineEvent

FIXTURES = Path(__file__).parent
CONTENT_TYPES = {
    ".form": "application/x-www-form-urlencoded",
    ".json": "application/json",
    ".eml": "message/rfc822",
    ".txt": "text/plain",
}
OUTCOMES = ("message_received", "malformed", "unsupported")


def _fixtures(kind: str) -> list[Path]:
    return sorted(
        path
        for path in (FIXTURES / kind / "fixtures").glob("*__*")
        if path.suffix in CONTENT_TYPES and path.name.split("__")[0] in OUTCOMES
    )


CASES = [
    pytest.param(spec, path, id=f"{spec.kind}/{path.name}")
    for spec in registry.specs().values()
    for path in _fixtures(spec.kind)
]


def test_every_installed_channel_brings_fixtures_of_each_outcome() -> None:
    assert {"email", "sms", "echo"} <= set(registry.specs()), "echo is registered from outside"
    for spec in registry.specs().values():
        outcomes = {path.name.split("__")[0] for path in _fixtures(spec.kind)}
        assert {"message_received", "malformed"} <= outcomes, spec.kind
        assert Path(spec.docs).exists(), f"{spec.kind}'s docs page {spec.docs}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _account(hub: Hub, spec: ChannelSpec) -> tuple[ProviderSpec, Channel]:
    """The spec's demo account, active, in a workspace of its own."""
    demo = demo_draft(spec, None)
    async with hub.engine.begin() as conn:
        workspace_id = await create_workspace(conn, f"Contract {spec.kind}")
        made = await create_channel(conn, hub.secrets, workspace_id, demo.draft, name=spec.title)
    return demo.provider, await hub.channels.get(made.id)


async def _deliver(
    served: ServedHub,
    http: aiohttp.ClientSession,
    provider: ProviderSpec,
    channel: Channel,
    raw: RawPayload,
) -> int | None:
    """The payload as the provider sends it: a signed webhook (the status answered), or a
    fetched batch through the pull sink (None)."""
    hub: Hub = served.hub  # type: ignore[assignment]
    if channel.transport is Transport.POLLING:
        await ChannelPullSink(hub, channel).commit([raw], {"position": 1})
        return None
    assert provider.signed_headers is not None, "a webhook channel says how its provider signs"
    credentials = channel.adapter.config.credentials  # type: ignore[attr-defined]
    headers = provider.signed_headers(credentials, channel.webhook_url, raw.body, raw.content_type)
    async with http.post(channel.webhook_url, data=raw.body, headers=dict(headers)) as answer:
        await answer.read()
        return answer.status


async def _count(hub: Hub, model: type, channel: Channel) -> int:
    async with hub.engine.connect() as conn:
        return (
            await conn.execute(
                select(func.count())
                .select_from(model)
                .where(model.channel_account_id == channel.context.channel_account_id)  # type: ignore[attr-defined]
            )
        ).scalar_one()


@pytest.mark.parametrize(("spec", "fixture"), CASES)
async def test_a_fixture_ends_where_its_name_says(
    served_hub: ServedHub, http: aiohttp.ClientSession, spec: ChannelSpec, fixture: Path
) -> None:
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    provider, channel = await _account(hub, spec)
    raw = RawPayload(CONTENT_TYPES[fixture.suffix], fixture.read_bytes())
    status = await _deliver(served_hub, http, provider, channel, raw)
    outcome = fixture.name.split("__")[0]
    received = await _count(hub, TimelineEvent, channel)
    quarantined = await _count(hub, QuarantinedPayload, channel)
    if outcome == "message_received":
        assert status in (200, None)
        async with hub.engine.connect() as conn:
            kinds = (
                await conn.execute(
                    select(TimelineEvent.kind).where(
                        TimelineEvent.channel_account_id == channel.context.channel_account_id
                    )
                )
            ).scalars()
            assert "message_received" in set(kinds)
        assert quarantined == 0
    elif outcome == "malformed":
        assert status in (400, None)
        assert (received, quarantined) == (0, 1)
    else:
        assert status in (200, None)
        assert (received, quarantined) == (0, 0)


async def test_an_edit_through_the_echo_channel_shows_on_the_timeline_with_its_versions(
    served_hub: ServedHub, http: aiohttp.ClientSession
) -> None:
    hub: Hub = served_hub.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub)
    demo = demo_draft(registry.spec("echo"), None)
    provider = demo.provider
    async with hub.engine.begin() as conn:
        made = await create_channel(conn, hub.secrets, ws.id, demo.draft, name="Echo")
    channel = await hub.channels.get(made.id)
    message = {"type": "message", "id": "echo-7", "from": "+14155550123", "text": "helo"}
    newer = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    older = (newer - timedelta(hours=1)).astimezone(timezone(timedelta(hours=1)))
    edits = [  # the second, written at 10:05+01:00 say, is older than the first at 10:00Z
        {**message, "type": "edit", "text": "hello", "edited_at": newer.isoformat()},
        {**message, "type": "edit", "text": "hello!", "edited_at": older.isoformat()},
    ]
    for payload in (message, edits[0], edits[0], edits[1]):  # the first edit redelivered
        raw = RawPayload("application/json", json.dumps(payload).encode())
        assert await _deliver(served_hub, http, provider, channel, raw) == 200
    async with hub.engine.connect() as conn:
        customer_id = (
            await conn.execute(
                select(TimelineEvent.customer_id).where(
                    TimelineEvent.channel_account_id == channel.context.channel_account_id
                )
            )
        ).scalar_one()
    async with http.get(
        f"{served_hub.base_url}/api/v1/customers/{customer_id}/timeline",
        headers={"Authorization": f"Bearer {ws.token}"},
    ) as answer:
        assert answer.status == 200
        (item,) = (await answer.json())["items"]
    assert item["body"] == "hello"
    assert datetime.fromisoformat(item["edited_at"]) == newer
    assert [v["body"] for v in item["versions"]] == ["helo", "hello!"]


async def test_the_demo_seeds_every_installed_channel(hub: Hub) -> None:
    demo = await seed_demo(hub, "http://127.0.0.1:9")
    assert set(demo.channels) == set(registry.specs())
    for kind, seeded in demo.channels.items():
        spec = registry.spec(kind)
        assert seeded["provider"] in [p.name for p in spec.providers]
        channel_is_reachable = seeded["webhook_url"] is not None
        takes_webhooks = spec.provider(seeded["provider"]).transports[0] is Transport.WEBHOOK
        assert channel_is_reachable == takes_webhooks
