"""Sign-in lockout: an (email, address) pair is locked after repeated failures, with a clear
429 and Retry-After, while the same user still signs in from another address; the count is
shared by every process of a hub, in Redis when it has it, else (and while Redis is away) in
its database, where it outlives a restart and is deleted once its window has passed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import redis
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from hub.config import Settings
from hub.context import Hub
from hub.errors import ApiError
from hub.models import FailureCount
from hub.sign_in import Client, SignInForm
from tests.conftest import free_port
from tests.hub.signing_in import PASSWORD, sign_in_request, user_with_password
from tests.workspace import seed_workspace
from timeline.models import AuditEntry


async def test_failures_lock_the_email_at_that_address_with_a_clear_answer(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    limit = hub.settings.sign_in.max_failures
    statuses = [
        (await sign_in_request(client, "ann@acme.test", "wrong password"))[0] for _ in range(limit)
    ]
    assert statuses == [401] * (limit - 1) + [429]
    response = await client.post(
        "/api/v1/session", json={"email": "ann@acme.test", "password": PASSWORD}
    )
    assert response.status == 429
    assert 1 <= int(response.headers["Retry-After"]) <= hub.settings.sign_in.lockout_seconds
    assert "too many failed sign-ins" in (await response.json())["error"]["message"]
    async with hub.engine.connect() as conn:
        locks = await conn.execute(
            select(func.count()).where(AuditEntry.action == "user.sign_in_locked")
        )
        assert locks.scalar_one() == 1


async def test_another_address_still_signs_in(hub: Hub) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    attacker = Client("203.0.113.7", "curl")
    owner = Client("198.51.100.20", "Firefox")
    wrong = SignInForm("ann@acme.test", "guess")
    for _ in range(hub.settings.sign_in.max_failures):
        with pytest.raises(ApiError):
            await hub.sign_in.sign_in(hub.engine, wrong, attacker, None)
    right = SignInForm("ann@acme.test", PASSWORD)
    with pytest.raises(ApiError) as locked:
        await hub.sign_in.sign_in(hub.engine, right, attacker, None)
    assert locked.value.status == 429
    signed_in = await hub.sign_in.sign_in(hub.engine, right, owner, None)
    assert signed_in.session.token
    # Another email from the locked address is not locked either.
    await user_with_password(hub, ws.id, "bob@acme.test")
    await hub.sign_in.sign_in(hub.engine, SignInForm("bob@acme.test", PASSWORD), attacker, None)


async def test_an_address_failing_over_many_emails_is_locked_for_every_email(
    settings: Settings,
) -> None:
    """One password tried across many emails: each email fails once, so no pair is ever
    locked; the address is, once it has failed as often as its budget allows."""
    budget = 6
    hub = Hub(replace(settings, sign_in=replace(settings.sign_in, max_address_failures=budget)))
    try:
        ws = await seed_workspace(hub)
        await user_with_password(hub, ws.id, "ann@acme.test")
        sprayer = Client("203.0.113.7", "curl")
        guesses = [SignInForm(f"user{n}@acme.test", "Summer2026!") for n in range(budget - 1)]
        guesses.append(SignInForm("ann@acme.test", "Summer2026!"))
        statuses = [await _refusals(hub, guess, sprayer) for guess in guesses]
        assert statuses == [401] * (budget - 1) + [429]
        right = SignInForm("ann@acme.test", PASSWORD)
        with pytest.raises(ApiError) as locked:
            await hub.sign_in.sign_in(hub.engine, right, sprayer, None)
        assert locked.value.status == 429
        assert "from this address" in locked.value.message
        owner = Client("198.51.100.20", "Firefox")
        assert (await hub.sign_in.sign_in(hub.engine, right, owner, None)).session.token
        async with hub.engine.connect() as conn:
            locks = await conn.execute(
                select(func.count()).where(AuditEntry.action == "user.sign_in_locked")
            )
            assert locks.scalar_one() == 1  # the guess that locked the address, on ann's account
    finally:
        await hub.stop()


async def _refusals(hub: Hub, form: SignInForm, client: Client) -> int:
    with pytest.raises(ApiError) as refused:
        await hub.sign_in.sign_in(hub.engine, form, client, None)
    return refused.value.status


async def test_every_process_of_a_hub_with_redis_counts_the_same_failures(
    settings: Settings, redis_url: str
) -> None:
    shared = replace(settings, redis_url=redis_url)
    first, second = Hub(shared, jobs_in_process=True), Hub(shared, jobs_in_process=True)
    try:
        ws = await seed_workspace(first)
        await user_with_password(first, ws.id, "ann@acme.test")
        attacker = Client("203.0.113.7", "curl")
        wrong = SignInForm("ann@acme.test", "guess")
        limit = settings.sign_in.max_failures
        statuses = [await _refusals((first, second)[n % 2], wrong, attacker) for n in range(limit)]
        assert statuses == [401] * (limit - 1) + [429]
        right = SignInForm("ann@acme.test", PASSWORD)
        assert [await _refusals(hub, right, attacker) for hub in (first, second)] == [429, 429]
        kept = [key.decode() for key in redis.Redis.from_url(redis_url).keys("*")]
        assert kept and not any("ann" in key or "203.0.113.7" in key for key in kept)
    finally:
        await first.stop()
        await second.stop()


async def _two_hubs_count_together(settings: Settings) -> None:
    """Failures alternating between two hubs on the settings' database lock the pair in both,
    and a hub started afterwards finds it locked too; the database names the pair only by its
    keyed hash."""
    first, second = Hub(settings), Hub(settings)
    try:
        ws = await seed_workspace(first)
        await user_with_password(first, ws.id, "ann@acme.test")
        attacker = Client("203.0.113.7", "curl")
        wrong = SignInForm("ann@acme.test", "guess")
        limit = settings.sign_in.max_failures
        statuses = [await _refusals((first, second)[n % 2], wrong, attacker) for n in range(limit)]
        assert statuses == [401] * (limit - 1) + [429]
        owner = Client("198.51.100.20", "Firefox")
        right = SignInForm("ann@acme.test", PASSWORD)
        assert (await second.sign_in.sign_in(second.engine, right, owner, None)).session.token
    finally:
        await first.stop()
        await second.stop()
    restarted = Hub(settings)
    try:
        assert await _refusals(restarted, right, attacker) == 429
        async with restarted.engine.connect() as conn:
            names = list((await conn.execute(select(FailureCount.name))).scalars())
    finally:
        await restarted.stop()
    assert names and not any("ann" in name or "203.0.113.7" in name for name in names)


async def test_without_redis_every_process_counts_in_the_database(settings: Settings) -> None:
    assert settings.redis_url is None
    await _two_hubs_count_together(settings)


async def test_with_redis_out_of_reach_the_processes_count_in_the_database(
    settings: Settings,
) -> None:
    await _two_hubs_count_together(
        replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    )


async def test_a_count_whose_window_has_passed_is_deleted_by_the_next_failure(
    settings: Settings,
) -> None:
    hub = Hub(settings)
    try:
        ws = await seed_workspace(hub)
        await user_with_password(hub, ws.id, "ann@acme.test")
        wrong = SignInForm("ann@acme.test", "guess")
        await _refusals(hub, wrong, Client("203.0.113.7", "curl"))
        async with hub.engine.begin() as conn:
            await conn.execute(
                update(FailureCount).values(window_ends=datetime.now(UTC) - timedelta(seconds=1))
            )
        await _refusals(hub, wrong, Client("198.51.100.20", "Firefox"))
        async with hub.engine.connect() as conn:
            rows = (await conn.execute(select(FailureCount.failures))).scalars().all()
        # The second failure's own counts (its pair's and its address's), the first's gone.
        assert rows == [1, 1], "the passed window's counts are still kept"
    finally:
        await hub.stop()
