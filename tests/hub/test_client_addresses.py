"""Client addresses behind a reverse proxy: X-Forwarded-For is read only from a trusted proxy,
so lockouts and the audit log see each real client, and nobody else can pick their address;
an IPv6 client is counted by its /64, where it could take a new address for every guess."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from hub.client_addresses import TrustedProxies, limited_as
from hub.config import ConfigError, load_settings
from hub.context import Hub
from tests.conftest import TEST_SECRET_KEY, HubAndClient, bearer
from tests.hub.signing_in import PASSWORD, sign_in_request, user_with_password
from tests.workspace import seed_workspace
from timeline.models import AuditEntry

PROXIES = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1, ::1")


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not a proxy: its header is a claim
        ("127.0.0.1", [], "127.0.0.1"),  # a proxy's own request
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client's own claim first
        ("127.0.0.1", ["198.51.100.1, 10.1.2.3"], "198.51.100.1"),  # through two proxies
        ("127.0.0.1", ["198.51.100.1", "10.1.2.3"], "198.51.100.1"),  # the header twice
        ("127.0.0.1", ["10.9.9.9, 10.1.2.3"], "10.9.9.9"),  # all trusted: the farthest
        ("127.0.0.1", ["junk, 10.1.2.3"], "10.1.2.3"),  # a forgery ends the walk
        ("::1", ["2001:db8::7"], "2001:db8::7"),
        (None, ["198.51.100.1"], None),
    ],
)
def test_the_client_is_the_nearest_hop_that_is_not_a_trusted_proxy(
    peer: str | None, forwarded: list[str], client: str | None
) -> None:
    assert PROXIES.client_of(peer, forwarded) == client


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert TrustedProxies().client_of("127.0.0.1", ["198.51.100.1"]) == "127.0.0.1"


def test_the_setting_is_read_and_a_bad_entry_named(tmp_path: Path) -> None:
    base = {"SWITCHBOARD_SECRET_KEY": TEST_SECRET_KEY, "SWITCHBOARD_DATA_DIR": str(tmp_path)}
    settings = load_settings({**base, "SWITCHBOARD_TRUSTED_PROXIES": " 10.0.0.0/8 ,::1,"})
    assert settings.trusted_proxies.trust("10.200.0.1") and settings.trusted_proxies.trust("::1")
    assert not load_settings(base).trusted_proxies
    with pytest.raises(ConfigError, match="SWITCHBOARD_TRUSTED_PROXIES.*'proxy.local'"):
        load_settings({**base, "SWITCHBOARD_TRUSTED_PROXIES": "10.0.0.1, proxy.local"})


async def test_behind_a_trusted_proxy_one_client_s_failures_lock_out_only_that_client(
    hub_and_client: HubAndClient,
) -> None:
    hub, client = await hub_and_client(trusted_proxies=PROXIES)  # the client is on 127.0.0.1
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(hub.settings.sign_in.max_failures):
        await sign_in_request(client, "ann@acme.test", "guess", headers=attacker)
    assert (await sign_in_request(client, "ann@acme.test", headers=attacker))[0] == 429
    owner = {"X-Forwarded-For": "198.51.100.20"}
    assert (await sign_in_request(client, "ann@acme.test", headers=owner))[0] == 201
    async with hub.engine.connect() as conn:
        addresses = await conn.execute(
            select(AuditEntry.action, AuditEntry.client_address).where(
                AuditEntry.action.in_(["user.sign_in_failed", "user.signed_in"])
            )
        )
        seen = set(addresses.all())
    assert seen == {("user.sign_in_failed", "203.0.113.7"), ("user.signed_in", "198.51.100.20")}


async def test_from_an_untrusted_peer_a_forwarded_address_changes_nothing(
    hub: Hub, client: TestClient
) -> None:
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    for n in range(hub.settings.sign_in.max_failures):
        claimed = {"X-Forwarded-For": f"198.51.100.{n}"}
        await sign_in_request(client, "ann@acme.test", "guess", headers=claimed)
    fresh = {"X-Forwarded-For": "198.51.100.250"}
    status, _, _ = await sign_in_request(client, "ann@acme.test", PASSWORD, headers=fresh)
    assert status == 429


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::9", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("198.51.100.7", "198.51.100.7"),
        ("unknown", "unknown"),
        (None, None),
    ],
)
def test_an_ipv6_client_is_counted_by_its_network(address: str | None, counted_as: str) -> None:
    assert limited_as(address) == counted_as


def _in_one_network(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"2001:db8:1:2::{n + 1:x}"}


async def test_new_ipv6_addresses_of_one_network_do_not_escape_a_lockout(
    hub_and_client: HubAndClient,
) -> None:
    hub, client = await hub_and_client(trusted_proxies=PROXIES)
    ws = await seed_workspace(hub)
    await user_with_password(hub, ws.id, "ann@acme.test")
    limit = hub.settings.sign_in.max_failures
    for n in range(limit):
        await sign_in_request(client, "ann@acme.test", "guess", headers=_in_one_network(n))
    status, _, _ = await sign_in_request(client, "ann@acme.test", headers=_in_one_network(limit))
    assert status == 429
    elsewhere = {"X-Forwarded-For": "2001:db8:1:3::1"}
    assert (await sign_in_request(client, "ann@acme.test", headers=elsewhere))[0] == 201
    async with hub.engine.connect() as conn:
        failed = await conn.execute(
            select(AuditEntry.client_address).where(AuditEntry.action == "user.sign_in_failed")
        )
        # The audit log keeps each address as it was, not the network it was counted under.
        assert set(failed.scalars()) == {f"2001:db8:1:2::{n + 1:x}" for n in range(limit)}


async def test_bad_tokens_from_new_ipv6_addresses_of_one_network_are_limited(
    hub_and_client: HubAndClient,
) -> None:
    _, client = await hub_and_client(trusted_proxies=PROXIES)
    statuses = []
    for n in range(21):
        headers = {**bearer("sbt_not_a_token"), **_in_one_network(n)}
        statuses.append((await client.get("/api/v1/customers", headers=headers)).status)
    assert statuses == [401] * 20 + [429]
    elsewhere = {**bearer("sbt_not_a_token"), "X-Forwarded-For": "2001:db8:1:3::1"}
    assert (await client.get("/api/v1/customers", headers=elsewhere)).status == 401
