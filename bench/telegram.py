"""Telegram webhook updates into a served hub vs the SMS webhook, in the same run.

Run: `.venv/bin/python bench/telegram.py [--events N] [--rounds R] [--concurrency C]`.
Each round posts N SMS webhooks (Twilio-signed forms) and N Telegram updates (JSON with the
secret-token header) to the same served hub (PostgreSQL, Redis), each in a closed loop after
500 to warm up, from a checkpointed database; the order alternates from round to round, as
this machine's speed drifts within a minute (docs/performance.md). Both go through the same
pipeline, so the ratio shows what the Telegram adapter costs over the SMS one: reading JSON
and the entities, threading keys, the secret-token check. Prints every round, the median
ratio (target >= 0.80), the CPU per event of the hub's processes (read from /proc) and the
lost/duplicated counts of both channels.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

# The repository's root in place of this script's folder, where this very file would stand in
# for python-telegram-bot's `telegram` package.
sys.path.remove(str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    THIS_CHECKOUT,
    ScratchDatabase,
    client_gc_paused,
    cpu_seconds,
    free_port,
    hub_environment,
    median_round,
    run_cli,
    scratch_database,
    served_hub,
    server_settings,
)
from bench.ingest import post_all, prepare_requests, settle
from channels.telegram.secret_token import HEADER

TARGET_RATIO = 0.80
WARM_UP = 500
FIRST_USER = 100_000_000
"""Telegram user ids of the benchmark's customers start here (5,000 of them per round)."""


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    secret: str


def telegram_requests(hook: Webhook, count: int, round_number: int) -> list[bytes]:
    """Updates from 5,000 customers new to each round, built before the clock starts."""
    split = urlsplit(hook.url)
    head = (
        f"POST {split.path} HTTP/1.1\r\nHost: {split.netloc}\r\n"
        f"Content-Type: application/json\r\n{HEADER}: {hook.secret}\r\n"
    )
    now = int(time.time())
    requests = []
    for n in range(count):
        user = FIRST_USER + 5000 * round_number + n % 5000
        sender = {"id": user, "is_bot": False, "first_name": "Sara", "language_code": "fa"}
        update = {
            "update_id": 10_000_000 * (round_number + 1) + n,
            "message": {
                "message_id": 10_000_000 * round_number + n,
                "from": sender,
                "chat": {"id": user, "type": "private", "first_name": "Sara"},
                "date": now,
                "text": f"benchmark message {n}: où est ma commande ?",
            },
        }
        body = json.dumps(update).encode()
        requests.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return requests


@dataclass(frozen=True, slots=True)
class Phase:
    rate: float
    cpu_us: float
    """The hub's processes' CPU microseconds per event."""


async def closed_loop(
    database: ScratchDatabase, url: str, requests: list[bytes], concurrency: int
) -> Phase:
    await settle(database, vacuum=False)
    await post_all(url, requests[:WARM_UP], concurrency)
    with client_gc_paused():
        spent = cpu_seconds(THIS_CHECKOUT.serving)
        rate, _ = await post_all(url, requests[WARM_UP:], concurrency)
        cpu = cpu_seconds(THIS_CHECKOUT.serving) - spent
    return Phase(rate, cpu / (len(requests) - WARM_UP) * 1e6)


@dataclass(frozen=True, slots=True)
class Round:
    sms: Phase
    telegram: Phase

    @property
    def ratio(self) -> float:
        return self.telegram.rate / self.sms.rate


async def run_round(
    database: ScratchDatabase,
    sms: Webhook,
    telegram: Webhook,
    number: int,
    args: argparse.Namespace,
) -> Round:
    texts = prepare_requests(sms.url, sms.secret, args.events, f"t{number}", senders=5000 * number)
    updates = telegram_requests(telegram, args.events, number)
    phases: dict[str, Phase] = {}
    order = [("sms", sms.url, texts), ("telegram", telegram.url, updates)]
    for name, url, requests in order if number % 2 == 0 else reversed(order):
        phases[name] = await closed_loop(database, url, requests, args.concurrency)
    return Round(phases["sms"], phases["telegram"])


async def stored(database: ScratchDatabase, channel_id: int) -> tuple[int, int]:
    conn = await asyncpg.connect(database.dsn)
    try:
        row = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT external_id) FROM timeline_events"
            " WHERE channel_account_id = $1",
            channel_id,
        )
    finally:
        await conn.close()
    return row[0], row[1]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="per channel and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    async with scratch_database("switchboard_bench_telegram") as database:
        env = hub_environment(database, free_port())
        run_cli(env, "migrate")
        channels = json.loads(run_cli(env, "demo", "--json"))["channels"]
        sms = Webhook(channels["sms"]["webhook_url"], channels["sms"]["secret"])
        telegram = Webhook(channels["telegram"]["webhook_url"], channels["telegram"]["secret"])
        settings = await server_settings(database)
        async with served_hub(env, args.processes):
            rounds = [await run_round(database, sms, telegram, n, args) for n in range(args.rounds)]
        counts = {
            kind: await stored(database, channels[kind]["id"]) for kind in ("sms", "telegram")
        }

    print(settings)
    print(
        f"each round: {args.events - WARM_UP} SMS webhooks and as many Telegram updates at"
        f" concurrency {args.concurrency} ({args.processes} web processes), order alternating"
    )
    for number, each in enumerate(rounds, start=1):
        print(
            f"round {number}: SMS {each.sms.rate:,.0f}/s ({each.sms.cpu_us:.0f} µs hub CPU per"
            f" event), Telegram {each.telegram.rate:,.0f}/s ({each.telegram.cpu_us:.0f} µs);"
            f" ratio {each.ratio:.2f}"
        )
    median = median_round(rounds, lambda r: r.ratio)
    print(f"ratio Telegram/SMS (median)   {median.ratio:.2f}  (target >= {TARGET_RATIO})")
    exact = True
    for kind, (total, distinct) in counts.items():
        expected = args.events * args.rounds
        print(
            f"{kind} events stored          {total} ({distinct} distinct) of {expected}:"
            f" lost {expected - distinct}, duplicated {total - distinct}"
        )
        exact = exact and total == distinct == expected
    ok = median.ratio >= TARGET_RATIO and exact
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
