"""Channel accounts through the API: added after the provider's check, signed webhooks taken,
credentials rotated, workspaces kept apart, secrets never answered, the spec's errors 422."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from channels.sms.simulate import inbound_sms_form, signed
from hub import channel_accounts
from hub.channel_accounts import change_channel
from hub.config import ConfigError, load_settings
from hub.context import Hub
from hub.provisioning import AccountDraft, ChannelChange, create_api_token, create_user
from tests.channels.sms.fake_twilio import FakeTwilio
from tests.conftest import TEST_SECRET_KEY, HubAndClient, bearer
from tests.timeline.conversation_helpers import text
from tests.workspace import SMS_ACCOUNT_SID, SMS_AUTH_TOKEN, SeededWorkspace, seed_workspace
from timeline.models import AuditEntry, Role

SID = SMS_ACCOUNT_SID
TOKEN = SMS_AUTH_TOKEN
ROTATED = "the-rotated-auth-token-987654321"
NUMBER = "+14155550100"


def _sms(base_url: str, auth_token: str = TOKEN, **more: Any) -> dict[str, Any]:
    return {
        "kind": "sms",
        "address": NUMBER,
        "credentials": {"account_sid": SID, "auth_token": auth_token},
        "provider_base_url": base_url,
        **more,
    }


async def _text(client: TestClient, webhook_url: str, auth_token: str) -> int:
    form = inbound_sms_form(sender="+14155550123", recipient=NUMBER, body="hi", account_sid=SID)
    body, headers = signed(webhook_url, auth_token, form)
    response = await client.post(urlsplit(webhook_url).path, data=body, headers=headers)
    return response.status


async def _added(client: TestClient, ws: SeededWorkspace, twilio: FakeTwilio) -> dict[str, Any]:
    """An SMS channel added through the API, checked with the fake provider."""
    response = await client.post(
        "/api/v1/channels", json=_sms(twilio.base_url), headers=bearer(ws.token)
    )
    assert response.status == 201, await response.text()
    added: dict[str, Any] = await response.json()
    return added


async def _audited(hub: Hub, channel_id: int) -> list[tuple[str, str]]:
    entries = AuditEntry.__table__
    async with hub.engine.connect() as conn:
        rows = await conn.execute(
            select(entries.c.action, entries.c.changes)
            .where(entries.c.entity_type == "channel_account")
            .where(entries.c.entity_id == str(channel_id))
            .order_by(entries.c.id)
        )
        return [(row.action, json.dumps(row.changes)) for row in rows]


async def test_an_sms_channel_added_through_the_api_takes_signed_texts(
    hub: Hub, client: TestClient, twilio: FakeTwilio
) -> None:
    ws = await seed_workspace(hub)
    response = await client.post(
        "/api/v1/channels", json=_sms(twilio.base_url), headers=bearer(ws.token)
    )
    assert response.status == 201, await response.text()
    added = await response.json()
    assert TOKEN not in await response.text()
    assert added["credentials_set"] == ["account_sid", "auth_token"]
    assert added["address"] == NUMBER and added["active"] is True
    assert any(r.path == f"/2010-04-01/Accounts/{SID}.json" for r in twilio.requests)
    assert await _text(client, added["webhook_url"], TOKEN) == 200
    assert await _text(client, added["webhook_url"], "not-the-token") == 403

    for path in ("/api/v1/channels", f"/api/v1/channels/{added['id']}"):
        read = await client.get(path, headers=bearer(ws.token))
        assert read.status == 200 and TOKEN not in await read.text()
    audited = await _audited(hub, added["id"])
    assert [action for action, _ in audited] == ["channel.created"]
    assert TOKEN not in audited[0][1]


async def test_a_provider_that_refuses_or_cannot_be_reached_is_422_and_nothing_is_stored(
    hub: Hub, client: TestClient, twilio: FakeTwilio
) -> None:
    ws = await seed_workspace(hub)
    for base_url, auth_token in ((twilio.base_url, "a-wrong-token"), ("http://127.0.0.1:9", TOKEN)):
        response = await client.post(
            "/api/v1/channels", json=_sms(base_url, auth_token), headers=bearer(ws.token)
        )
        assert response.status == 422, await response.text()
        assert (await response.json())["error"]["code"] == "provider_check_failed"
    listed = await (await client.get("/api/v1/channels", headers=bearer(ws.token))).json()
    assert [channel["id"] for channel in listed["items"]] == [ws.sms_channel_id]


async def test_rotated_credentials_refuse_the_old_signature(
    hub: Hub, client: TestClient, twilio: FakeTwilio
) -> None:
    ws = await seed_workspace(hub)
    created = await client.post(
        "/api/v1/channels", json=_sms(twilio.base_url, check=False), headers=bearer(ws.token)
    )
    channel = await created.json()
    twilio.auth_token = ROTATED
    response = await client.patch(
        f"/api/v1/channels/{channel['id']}",
        json={"credentials": {"auth_token": ROTATED}, "name": "Front desk"},
        headers=bearer(ws.token),
    )
    assert response.status == 200, await response.text()
    changed = await response.json()
    assert ROTATED not in await response.text()
    assert changed["name"] == "Front desk" and changed["revision"] == channel["revision"] + 1
    assert await _text(client, channel["webhook_url"], TOKEN) == 403
    assert await _text(client, channel["webhook_url"], ROTATED) == 200

    deactivated = await client.patch(
        f"/api/v1/channels/{channel['id']}", json={"active": False}, headers=bearer(ws.token)
    )
    assert (await deactivated.json())["active"] is False
    audited = await _audited(hub, channel["id"])
    assert [action for action, _ in audited] == [
        "channel.created",
        "channel.credentials_rotated",
        "channel.updated",
        "channel.deactivated",
    ]
    assert not any(ROTATED in changes or TOKEN in changes for _, changes in audited)


async def test_a_rotation_the_provider_refuses_is_422_and_changes_nothing(
    hub: Hub, client: TestClient, twilio: FakeTwilio
) -> None:
    ws = await seed_workspace(hub)
    channel = await _added(client, ws, twilio)
    refused = await client.patch(
        f"/api/v1/channels/{channel['id']}",
        json={"credentials": {"auth_token": ROTATED}},
        headers=bearer(ws.token),
    )
    assert refused.status == 422, await refused.text()
    assert (await refused.json())["error"]["code"] == "provider_check_failed"
    assert await _text(client, channel["webhook_url"], TOKEN) == 200


async def test_the_row_is_not_held_while_the_provider_answers_and_a_change_meanwhile_is_409(
    hub: Hub, client: TestClient, twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = await seed_workspace(hub)
    channel = await _added(client, ws, twilio)
    checked = channel_accounts.check_account

    async def slow_provider(draft: AccountDraft) -> None:
        # Another admin renames the channel while the provider is still thinking: a lock held
        # over the check would make this wait for the check, and the check for this.
        renaming = change_channel(hub, ws.id, channel["id"], ChannelChange(name="Renamed"))
        await asyncio.wait_for(renaming, timeout=10)
        await checked(draft)

    monkeypatch.setattr(channel_accounts, "check_account", slow_provider)
    twilio.auth_token = ROTATED
    response = await client.patch(
        f"/api/v1/channels/{channel['id']}",
        json={"credentials": {"auth_token": ROTATED}},
        headers=bearer(ws.token),
    )
    assert response.status == 409, await response.text()
    assert (await response.json())["error"]["code"] == "channel_changed"
    assert await _text(client, channel["webhook_url"], TOKEN) == 200, "the rotation was not kept"
    read = await (
        await client.get(f"/api/v1/channels/{channel['id']}", headers=bearer(ws.token))
    ).json()
    assert read["name"] == "Renamed"


async def test_a_rotated_webhook_key_retires_the_old_url(
    hub: Hub, client: TestClient, twilio: FakeTwilio
) -> None:
    ws = await seed_workspace(hub)
    channel = await _added(client, ws, twilio)
    response = await client.patch(
        f"/api/v1/channels/{channel['id']}",
        json={"rotate_webhook_key": True},
        headers=bearer(ws.token),
    )
    assert response.status == 200, await response.text()
    rotated = await response.json()
    assert rotated["webhook_url"] != channel["webhook_url"]
    assert rotated["webhook_unregistered"] is None
    assert await _text(client, channel["webhook_url"], TOKEN) == 404
    assert await _text(client, rotated["webhook_url"], TOKEN) == 200
    assert [action for action, _ in await _audited(hub, channel["id"])] == [
        "channel.created",
        "channel.webhook_key_rotated",
    ]


async def test_another_workspaces_channel_is_not_found(hub: Hub, client: TestClient) -> None:
    ours = await seed_workspace(hub)
    theirs = await seed_workspace(hub, name="Other")
    path = f"/api/v1/channels/{theirs.sms_channel_id}"
    assert (await client.get(path, headers=bearer(ours.token))).status == 404
    patched = await client.patch(path, json={"active": False}, headers=bearer(ours.token))
    assert patched.status == 404
    listed = await (await client.get("/api/v1/channels", headers=bearer(ours.token))).json()
    assert [channel["id"] for channel in listed["items"]] == [ours.sms_channel_id]
    still = await (await client.get(path, headers=bearer(theirs.token))).json()
    assert still["active"] is True


async def _agent_token(hub: Hub, ws: SeededWorkspace) -> str:
    async with hub.engine.begin() as conn:
        agent = await create_user(conn, ws.id, email="a@acme.test", name="A", role=Role.AGENT)
        return (await create_api_token(conn, hub.token_key, agent)).token


async def test_only_those_who_manage_channels_see_webhook_urls(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    agent_token = await _agent_token(hub, ws)
    path = f"/api/v1/channels/{ws.sms_channel_id}"
    seen_by_agent = await (await client.get(path, headers=bearer(agent_token))).json()
    seen_by_admin = await (await client.get(path, headers=bearer(ws.token))).json()
    assert seen_by_agent["webhook_url"] is None
    assert seen_by_admin["webhook_url"] == ws.sms_webhook_url
    assert seen_by_agent["credentials_set"] == ["account_sid", "auth_token"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_sms("http://127.0.0.1:9", check=False, kind="pigeon"), "kind"),
        (_sms("http://127.0.0.1:9", check=False, provider="nexmo"), "provider"),
        (_sms("http://127.0.0.1:9", check=False, address="not a number"), "address"),
        ({**_sms("http://127.0.0.1:9", check=False), "credentials": {}}, "credentials.account_sid"),
        (_sms("http://127.0.0.1:9", check=False, settings={"colour": "red"}), "settings.colour"),
        ({**_sms("http://127.0.0.1:9"), "credentials": {"auth_token": "a\u0000b"}}, None),
    ],
)
async def test_what_the_spec_refuses_is_422_naming_the_field(
    hub: Hub, client: TestClient, body: dict[str, Any], field: str | None
) -> None:
    ws = await seed_workspace(hub)
    response = await client.post("/api/v1/channels", json=body, headers=bearer(ws.token))
    assert response.status == 422, await response.text()
    fields = (await response.json())["error"]["fields"]
    assert field is None or field in fields, fields


async def test_a_patch_the_spec_refuses_is_422(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    response = await client.patch(
        f"/api/v1/channels/{ws.sms_channel_id}",
        json={"credentials": {"auth_token": None}},
        headers=bearer(ws.token),
    )
    assert response.status == 422, await response.text()
    assert "credentials.auth_token" in (await response.json())["error"]["fields"]


async def test_a_patch_that_changes_nothing_is_422(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    path = f"/api/v1/channels/{ws.sms_channel_id}"
    for body in (None, {}):
        response = await client.patch(path, json=body, headers=bearer(ws.token))
        assert response.status == 422, await response.text()


async def test_a_reply_on_a_deactivated_channel_is_409(hub: Hub, client: TestClient) -> None:
    ws = await seed_workspace(hub)
    conversation_id = await text(hub, ws, "+14155550123", "SM1")
    path = f"/api/v1/channels/{ws.sms_channel_id}"
    await client.patch(path, json={"active": False}, headers=bearer(ws.token))
    replied = await client.post(
        f"/api/v1/conversations/{conversation_id}/replies",
        json={"body": "hello"},
        headers=bearer(ws.token),
    )
    assert replied.status == 409, await replied.text()
    assert (await replied.json())["error"]["code"] == "channel_inactive"


async def test_a_provider_url_through_the_api_needs_the_operator_s_leave(
    hub_and_client: HubAndClient, twilio: FakeTwilio
) -> None:
    hub, client = await hub_and_client(provider_urls_by_api=False)  # the default
    ws = await seed_workspace(hub)
    refused = await client.post(
        "/api/v1/channels", json=_sms(twilio.base_url), headers=bearer(ws.token)
    )
    assert refused.status == 422
    assert "provider_base_url" in (await refused.json())["error"]["fields"]
    assert twilio.requests == []  # nothing was asked of the URL
    patched = await client.patch(
        f"/api/v1/channels/{ws.sms_channel_id}",
        json={"provider_base_url": twilio.base_url},
        headers=bearer(ws.token),
    )
    assert patched.status == 422
    listed = await client.get("/api/v1/channels", headers=bearer(ws.token))
    assert [c["id"] for c in (await listed.json())["items"]] == [ws.sms_channel_id]


def test_the_operator_allows_provider_urls_through_the_api_by_setting(tmp_path: Path) -> None:
    base = {"SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY, "SWITCHBOARD_DATA_DIR": str(tmp_path)}
    assert not load_settings(base).provider_urls_by_api
    allowed = {**base, "SWITCHBOARD_API_PROVIDER_URLS": "true"}
    assert load_settings(allowed).provider_urls_by_api
    with pytest.raises(ConfigError, match="SWITCHBOARD_API_PROVIDER_URLS"):
        load_settings({**base, "SWITCHBOARD_API_PROVIDER_URLS": "yes"})
