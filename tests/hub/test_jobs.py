"""The jobs facade on real Redis (RQ worker processes) and the realtime bus across processes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from aiohttp.test_utils import TestClient
from redis.asyncio import Redis
from sqlalchemy import select

from hub.config import Settings
from hub.context import Hub
from hub.jobs import RqJobs
from hub.realtime import RedisBus
from tests.channels.sms.fake_twilio import FakeTwilio
from tests.conftest import TEST_SECRET_KEY, bearer, free_port
from tests.workspace import queued_reply, seed_workspace, sms_request
from timeline.domain import LoggedEvent
from timeline.models import Conversation, OutboundMessage
from timeline.outbox import due_message_ids

SWITCHBOARD = str(Path(sys.executable).with_name("switchboard"))
AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)


async def test_rq_worker_sends_each_reply_once_even_when_enqueued_twice(
    settings: Settings, redis_url: str, twilio: FakeTwilio
) -> None:
    hub = Hub(replace(settings, redis_url=redis_url))
    try:
        assert isinstance(hub.jobs, RqJobs)
        ws = await seed_workspace(hub, provider_base_url=twilio.base_url)
        await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
        message_id = await queued_reply(hub, ws.id, "sent by an RQ worker", ws.admin_id)
        await hub.jobs.enqueue("send_message", message_id)
        await hub.jobs.enqueue("send_message", message_id)
        worker = await asyncio.create_subprocess_exec(
            SWITCHBOARD,
            "worker",
            "--burst",
            env={
                **os.environ,
                "SWITCHBOARD_DATABASE_URL": settings.database_url,
                "SWITCHBOARD_REDIS_URL": redis_url,
                "SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY,
                "SWITCHBOARD_BASE_URL": settings.base_url,
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
        assert worker.returncode == 0, output.decode()
        assert [r.field("Body") for r in twilio.requests] == ["sent by an RQ worker"]
        async with hub.engine.connect() as conn:
            message = (await conn.execute(select(OutboundMessage))).one()
        assert message.external_id in twilio.messages
        assert message.attempts == 1
    finally:
        await hub.stop()


async def test_worker_without_redis_says_what_is_missing(settings: Settings) -> None:
    worker = await asyncio.create_subprocess_exec(
        SWITCHBOARD,
        "worker",
        env={**os.environ, "SWITCHBOARD_DATABASE_URL": settings.database_url},
        stderr=asyncio.subprocess.PIPE,
    )
    _, error = await asyncio.wait_for(worker.communicate(), timeout=30)
    assert worker.returncode == 1
    assert b"SWITCHBOARD_REDIS_URL" in error


async def test_domain_events_reach_subscribers_in_another_process_through_redis(
    redis_url: str,
) -> None:
    channel = f"switchboard-test:{uuid.uuid4().hex}"
    publisher, subscriber = RedisBus(redis_url, channel), RedisBus(redis_url, channel)
    await publisher.start()
    await subscriber.start()
    try:
        inbox = await subscriber.subscribe()
        await asyncio.sleep(0.2)  # let the SUBSCRIBE reach Redis
        sent = LoggedEvent(5, 7, "conversation.assigned", {"conversation_id": 1, "agent_id": 2}, AT)
        await publisher.publish([sent])
        assert await asyncio.wait_for(inbox.next(), timeout=5) == [sent]
    finally:
        await publisher.stop()
        await subscriber.stop()


async def test_a_process_listens_on_redis_only_while_it_has_subscribers(redis_url: str) -> None:
    channel = f"switchboard-test:{uuid.uuid4().hex}"
    bus, probe = RedisBus(redis_url, channel), Redis.from_url(redis_url)

    async def listeners_become(expected: int) -> int:
        for _ in range(100):
            [(_, count)] = await probe.pubsub_numsub(channel)
            if count == expected:
                break
            await asyncio.sleep(0.05)
        return int(count)

    await bus.start()
    try:
        assert await listeners_become(0) == 0
        first, second = await bus.subscribe(), await bus.subscribe()
        assert await listeners_become(1) == 1  # one Redis subscription for the whole process
        bus.unsubscribe(first)
        assert await listeners_become(1) == 1
        bus.unsubscribe(second)
        assert await listeners_become(0) == 0
        again = await bus.subscribe()
        await asyncio.sleep(0.2)
        sent = LoggedEvent(6, 7, "conversation.resolved", {"conversation_id": 3}, AT)
        await probe.publish(channel, json.dumps([{**asdict(sent), "logged_at": AT.isoformat()}]))
        assert await asyncio.wait_for(again.next(), timeout=5) == [sent]
    finally:
        await bus.stop()
        await probe.aclose()


async def test_a_reply_stands_when_the_job_queue_is_out_of_reach(
    hub: Hub, client: TestClient
) -> None:
    """Enqueueing after the commit raised: a stored reply was answered 500, and a client that
    tried again sent it twice. Now it is 202; the scheduler enqueues it from the database."""
    ws = await seed_workspace(hub)
    await hub.pipeline.ingest([sms_request(ws, "SM1", "+14155550123")])
    async with hub.engine.connect() as conn:
        conversation_id = (await conn.execute(select(Conversation.id))).scalar_one()
    unreachable = RqJobs(f"redis://127.0.0.1:{free_port()}/0", hub.job_functions)
    in_process, hub.jobs = hub.jobs, unreachable
    try:
        response = await client.post(
            f"/api/v1/conversations/{conversation_id}/replies",
            json={"body": "on its way"},
            headers=bearer(ws.token),
        )
    finally:
        hub.jobs = in_process
    assert response.status == 202, await response.text()
    message_id = (await response.json())["message_id"]
    async with hub.engine.connect() as conn:
        status = (
            await conn.execute(
                select(OutboundMessage.status).where(OutboundMessage.id == message_id)
            )
        ).scalar_one()
    assert status == "queued"
    assert message_id in await due_message_ids_of(hub)


async def due_message_ids_of(hub: Hub) -> list[int]:
    async with hub.reads.connect() as conn:
        return await due_message_ids(conn)
