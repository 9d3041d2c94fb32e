"""A session-authenticated API read against a token-authenticated one, in the same run.

Run: `make bench` or `.venv/bin/python bench/auth.py [--rounds N]`.
Both read `GET /api/v1/agents` from a served hub (PostgreSQL) as the same demo user: once with
the demo's bearer token (the baseline), once with the cookie of a session signed in by password.
The time is the server's own (`Server-Timing`), and the two are asked in turns so both see the
same moments of a machine whose speed drifts. Target (issue 16): session p50 <= 1.2 x token p50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    free_port,
    hub_environment,
    percentile,
    run_cli,
    scratch_database,
    served_hub,
    server_settings,
)
from hub.sessions import SESSION_COOKIE

TARGET_RATIO = 1.2


async def sign_in(session: aiohttp.ClientSession, base_url: str, login: dict[str, str]) -> str:
    """A new session's cookie value, signed in with the demo login's email and password."""
    async with session.post(
        f"{base_url}/api/v1/session",
        json={"email": login["email"], "password": login["password"]},
    ) as response:
        if response.status != 201:
            raise RuntimeError(f"sign-in refused: {response.status} {await response.text()}")
        return response.cookies[SESSION_COOKIE].value


async def server_time(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    async with session.get(url, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"unexpected answer {response.status}")
        return float(response.headers["Server-Timing"].split("dur=")[1])


async def alternating_times(
    session: aiohttp.ClientSession,
    url: str,
    ways: tuple[dict[str, str], dict[str, str]],
    rounds: int,
) -> tuple[list[float], list[float]]:
    times: tuple[list[float], list[float]] = ([], [])
    for number in range(rounds):
        for which in (0, 1) if number % 2 == 0 else (1, 0):
            times[which].append(await server_time(session, url, ways[which]))
    return times


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1000)
    args = parser.parse_args()

    async with scratch_database("switchboard_bench_auth") as database:
        env = hub_environment(database, free_port())
        run_cli(env, "migrate")
        demo = json.loads(run_cli(env, "demo", "--json"))
        settings = await server_settings(database)
        # No cookie jar: each request carries exactly the credentials it is meant to.
        jar = aiohttp.DummyCookieJar()
        async with served_hub(env) as base_url, aiohttp.ClientSession(cookie_jar=jar) as client:
            cookie = await sign_in(client, base_url, demo["agents"][0])
            ways = (
                {"Authorization": f"Bearer {demo['api_token']}"},
                {"Cookie": f"{SESSION_COOKIE}={cookie}"},
            )
            url = f"{base_url}/api/v1/agents"
            await alternating_times(client, url, ways, 100)  # warm-up
            token, session = await alternating_times(client, url, ways, args.rounds)

    ratio = percentile(session, 0.5) / percentile(token, 0.5)
    print(settings)
    for name, times in (("bearer token", token), ("session cookie", session)):
        print(
            f"{name:15} p50 / p99  {percentile(times, 0.5):.2f} / "
            f"{percentile(times, 0.99):.2f} ms server-side"
        )
    print(f"session / token (p50)     {ratio:.2f}  (target <= {TARGET_RATIO})")
    ok = ratio <= TARGET_RATIO
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
