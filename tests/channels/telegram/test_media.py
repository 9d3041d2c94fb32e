"""A customer's files reach the blob store through getFile, within the account's size limit."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from channels.telegram.secret_token import HEADER
from hub.context import Hub
from tests.conftest import ServedHub
from tests.workspace import seed_workspace
from timeline.models import Blob, EventAttachment, TimelineEvent

from .accounts import SECRET, telegram_channel
from .fake_bot_api import FakeBotApi

PHOTO = (Path(__file__).with_name("fixtures") / "message_received__photo_caption.json").read_bytes()
JPEG = b"\xff\xd8\xff\xe0 a photo \xff\xd9"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def photo_update(fake: FakeBotApi) -> dict[str, Any]:
    """The photo fixture, its largest size a file the fake holds (the others unknown to it)."""
    update = json.loads(PHOTO)
    stored = fake.add_file(JPEG, folder="photos", suffix=".jpg")
    largest = max(update["message"]["photo"], key=lambda size: size["width"] * size["height"])
    largest.update(file_id=stored.file_id, file_size=stored.file_size)
    return update


async def _post(
    served: ServedHub, http: aiohttp.ClientSession, fake: FakeBotApi, **settings: Any
) -> tuple[Hub, list[dict[str, Any]]]:
    hub: Hub = served.hub  # type: ignore[assignment]
    ws = await seed_workspace(hub)
    root = fake.base_url.removesuffix("/bot")
    channel = await telegram_channel(hub, ws.id, provider_base_url=root, **settings)
    headers = {"Content-Type": "application/json", HEADER: SECRET}
    body = json.dumps(photo_update(fake))
    async with http.post(channel.webhook_url, data=body, headers=headers) as answer:
        assert answer.status == 200
    async with hub.engine.connect() as conn:
        attachments = (await conn.execute(select(TimelineEvent.attachments))).scalar_one()
    return hub, attachments


async def test_a_photo_is_fetched_into_the_blob_store(
    served_hub: ServedHub, http: aiohttp.ClientSession, fake_bot_api: FakeBotApi
) -> None:
    hub, (attachment,) = await _post(served_hub, http, fake_bot_api)
    assert attachment["size"] == len(JPEG)
    async with hub.engine.connect() as conn:
        kept = (
            await conn.execute(
                select(Blob.content).join(EventAttachment, EventAttachment.digest == Blob.digest)
            )
        ).scalar_one()
    assert kept == JPEG
    assert len(fake_bot_api.downloads) == 1


async def test_a_photo_over_the_accounts_limit_is_described_not_downloaded(
    served_hub: ServedHub, http: aiohttp.ClientSession, fake_bot_api: FakeBotApi
) -> None:
    _, (attachment,) = await _post(
        served_hub, http, fake_bot_api, max_attachment_bytes=len(JPEG) - 1
    )
    assert attachment["too_large"] is True and "digest" not in attachment
    assert fake_bot_api.calls_of("getFile") == [] and fake_bot_api.downloads == []
