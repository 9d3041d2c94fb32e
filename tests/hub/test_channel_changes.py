"""A channel changed with the CLI or the API (credentials rotated, deactivated) changes in
every serving process within seconds, without a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from channels.sms.simulate import inbound_sms_form, signed
from hub.config import Settings
from tests.hub.test_cli import run
from tests.serve_processes import ready, serving
from tests.workspace import (
    OUR_NUMBER,
    SMS_ACCOUNT_SID,
    SMS_AUTH_TOKEN,
    SeededWorkspace,
    seed_workspace_apart,
)

WITHIN_SECONDS = 5.0


@pytest.fixture
def two_servers(database_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two `switchboard serve` processes on the test's database; their base URLs."""
    with serving(database_url, tmp_path) as urls:
        yield urls


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _text(http: aiohttp.ClientSession, url: str, auth_token: str) -> int:
    form = inbound_sms_form(
        sender="+14155550123", recipient=OUR_NUMBER, body="hi", account_sid=SMS_ACCOUNT_SID
    )
    body, headers = signed(url, auth_token, form)
    async with http.post(url, data=body, headers=headers) as response:
        return response.status


async def _all_answer(
    http: aiohttp.ClientSession, urls: list[str], auth_token: str, status: int
) -> float:
    """Seconds until every server answers a text signed with `auth_token` with `status`."""
    started = asyncio.get_running_loop().time()
    while True:
        answers = [await _text(http, url, auth_token) for url in urls]
        waited = asyncio.get_running_loop().time() - started
        if answers == [status] * len(urls):
            return waited
        assert waited < WITHIN_SECONDS, f"after {waited:.1f} s the servers answer {answers}"
        await asyncio.sleep(0.2)


async def _served_sms_channel(
    settings: Settings, servers: list[str], http: aiohttp.ClientSession
) -> tuple[SeededWorkspace, list[str]]:
    """A seeded workspace and its SMS channel's webhook URL on each server, each taking texts."""
    ws = await seed_workspace_apart(settings)
    path = urlsplit(ws.sms_webhook_url).path
    urls = [base + path for base in servers]
    for base in servers:
        await ready(http, base)
    assert [await _text(http, url, SMS_AUTH_TOKEN) for url in urls] == [200, 200]
    return ws, urls


async def test_rotated_credentials_and_deactivation_reach_every_process_within_seconds(
    settings: Settings, database_url: str, two_servers: list[str], http: aiohttp.ClientSession
) -> None:
    ws, urls = await _served_sms_channel(settings, two_servers, http)

    rotated = "rotated-auth-token-0123456789abcdef"
    changed = run(
        database_url,
        "channel",
        "update",
        str(ws.sms_channel_id),
        "--credential",
        f"auth_token={rotated}",
    )
    assert changed.returncode == 0, changed.stderr
    await _all_answer(http, urls, SMS_AUTH_TOKEN, 403)
    await _all_answer(http, urls, rotated, 200)

    deactivated = run(database_url, "channel", "update", str(ws.sms_channel_id), "--deactivate")
    assert deactivated.returncode == 0, deactivated.stderr
    await _all_answer(http, urls, rotated, 404)


async def test_a_channel_changed_through_the_api_changes_in_every_process_within_seconds(
    settings: Settings, two_servers: list[str], http: aiohttp.ClientSession
) -> None:
    ws, urls = await _served_sms_channel(settings, two_servers, http)

    rotated = "rotated-auth-token-0123456789abcdef"
    channel = f"{two_servers[0]}/api/v1/channels/{ws.sms_channel_id}"
    headers = {"Authorization": f"Bearer {ws.token}"}
    rotation = {"credentials": {"auth_token": rotated}, "check": False}
    async with http.patch(channel, json=rotation, headers=headers) as response:
        assert response.status == 200, await response.text()
    await _all_answer(http, urls, SMS_AUTH_TOKEN, 403)
    await _all_answer(http, urls, rotated, 200)

    async with http.patch(channel, json={"active": False}, headers=headers) as response:
        assert response.status == 200, await response.text()
    await _all_answer(http, urls, rotated, 404)
