"""Signed SMS webhooks into a served hub (PostgreSQL, Redis) vs raw asyncpg INSERTs, same run.

Run: `make bench` or `.venv/bin/python bench/ingest.py [--events N] [--rounds R] [--concurrency C]`.
The hub and the baseline take turns, round after round (3 by default), because this machine's
speed drifts within a minute (docs/performance.md): a ratio of two phases a minute apart
measured the drift as much as the hub. In each round the hub's closed loop is followed by its
p99 acknowledgement latency at half the rate it reached, then by the baseline. Prints every
round's figures, the median ratio and the median p99, and the lost/duplicated counts. A second
reference, the HTTP ceiling, is measured in the same run: the same requests, client and
concurrency against an aiohttp server that answers every POST at once (bench/hello_server.py).
The load comes from a bare keep-alive HTTP/1.1 client (it shares the machine's cores with the
hub), and paced latencies count from when each request was due, so a lagging client cannot hide
a slow hub; its own garbage collector is paused while it measures, so that its pauses are not
counted as the hub's (`client_gc_paused`). Each round starts from a checkpointed database, the
baseline from a vacuumed, analyzed and checkpointed one (`settle`).
It also prints the CPU time each party spends per event or row (the hub's processes, PostgreSQL's
processes, this client), read from /proc: far steadier than the rates on a shared machine, so
it shows what a change to the hub saves even when the rates swing between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from dataclasses import astuple, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    THIS_CHECKOUT,
    HubCode,
    ScratchDatabase,
    client_gc_paused,
    cpu_seconds,
    free_port,
    hub_environment,
    median_round,
    percentile,
    run_cli,
    scratch_database,
    served_hub,
    server_settings,
)
from channels.sms.simulate import inbound_sms_form, signed

TARGET_RATIO = 0.35
TARGET_P99_MS = 50.0


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads each answer.

    Leaner than a general client: the load runs on the hub's own cores, so every microsecond
    the client spends is one the hub cannot.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        split = urlsplit(url)
        return cls(*await asyncio.open_connection(split.hostname, split.port))

    async def post(self, request: bytes) -> None:
        """Send one request; raise unless the hub answers 200."""
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = _CONTENT_LENGTH.search(head)
        if length is None:
            raise RuntimeError(f"answer without Content-Length: {head!r}")
        body = await self._reader.readexactly(int(length.group(1)))
        if head[9:12] != b"200":
            raise RuntimeError(f"webhook answered {head[9:12].decode()}: {body.decode()}")

    def close(self) -> None:
        self._writer.close()


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


def prepare_requests(
    url: str, secret: str, count: int, prefix: str, senders: int = 0
) -> list[bytes]:
    """Signed webhook requests, built before the clock starts: the client's cost is not measured.

    They come from 5,000 customers, numbered from `senders` on (each round brings new ones, so
    that every round creates as many customers as the first).
    """
    split = urlsplit(url)
    requests = []
    for n in range(count):
        fields = inbound_sms_form(
            sender=f"+1415{senders + n % 5000:07d}",
            recipient="+15005550006",
            body=f"benchmark message {n}: où est ma commande ?",
            message_sid=f"SM{prefix}{n:024d}",
        )
        body, headers = signed(url, secret, fields)
        head = f"POST {split.path} HTTP/1.1\r\nHost: {split.netloc}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()
        )
        requests.append(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return requests


async def post_all(url: str, requests: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Closed loop: `concurrency` clients post as fast as they are acknowledged."""
    queue = iter(requests)
    latencies: list[float] = []
    connections = [await Connection.open(url) for _ in range(concurrency)]

    async def client(connection: Connection) -> None:
        for request in queue:
            started = time.perf_counter()
            await connection.post(request)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(connection) for connection in connections))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.close()
    return len(requests) / elapsed, latencies


async def post_paced(url: str, requests: list[bytes], rate: float) -> list[float]:
    """Open loop: one request every 1/rate seconds whatever the answers do; their latencies.

    Each latency counts from when its request was due, so a late client cannot hide a slow hub.
    """
    latencies: list[float] = []
    idle: list[Connection] = []

    async def one(request: bytes, due: float) -> None:
        connection = idle.pop() if idle else await Connection.open(url)
        await connection.post(request)
        latencies.append(time.perf_counter() - due)
        idle.append(connection)

    tasks = []
    begin = time.perf_counter()
    for n, request in enumerate(requests):
        due = begin + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(request, due)))
    await asyncio.gather(*tasks)
    for connection in idle:
        connection.close()
    return latencies


async def baseline(database: ScratchDatabase, count: int, concurrency: int) -> tuple[float, CpuUse]:
    """Raw asyncpg: single-row INSERTs into a new table, one commit each, same volume and
    concurrency; its rate and CPU per row."""
    pool = await asyncpg.create_pool(database.dsn, min_size=concurrency, max_size=concurrency)
    await pool.execute(
        "DROP TABLE IF EXISTS baseline_events;"
        " CREATE TABLE baseline_events (id bigserial PRIMARY KEY, channel_account_id bigint, "
        "external_id text, body text, occurred_at timestamptz, "
        "UNIQUE (channel_account_id, external_id))"
    )
    rows = iter(range(count))

    async def writer() -> None:
        async with pool.acquire() as conn:
            for n in rows:
                await conn.execute(
                    "INSERT INTO baseline_events"
                    " (channel_account_id, external_id, body, occurred_at)"
                    " VALUES ($1, $2, $3, now())",
                    1,
                    f"SM{n:032d}",
                    f"benchmark message {n}: où est ma commande ?",
                )

    spent = _cpu_now(database)
    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    cpu = _cpu_per_item(spent, count, database)
    stored = await pool.fetchval("SELECT count(*) FROM baseline_events")
    await pool.close()
    assert stored == count, f"baseline stored {stored} of {count}"
    return count / elapsed, cpu


async def http_ceiling(url: str, requests: list[bytes], concurrency: int) -> float:
    """Requests/s of an aiohttp server that only acknowledges, on the same client and load."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("hello_server.py")), str(port)]
    )
    try:
        await _wait_listening(port)
        target = url.replace(urlsplit(url).netloc, f"127.0.0.1:{port}")
        await post_all(target, requests[:500], concurrency)  # warm-up
        with client_gc_paused():
            rate, _ = await post_all(target, requests[500:], concurrency)
        return rate
    finally:
        server.terminate()
        server.wait(timeout=30)


async def _wait_listening(port: int) -> None:
    for _ in range(300):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise RuntimeError(f"the HTTP reference server did not listen on port {port}")


@dataclass(frozen=True, slots=True)
class CpuUse:
    """CPU seconds (or µs per item) of the hub's processes, PostgreSQL's backends serving its
    database, and this client.

    Processes are told apart by their command lines: the hub's name this environment's
    executable, the backends their database, so that another session's hub or tests on the same
    machine are not counted. PostgreSQL's shared background processes (checkpointer, WAL and
    background writers) are not counted either: they serve every database at once."""

    hub: float
    postgres: float
    client: float


def _cpu_now(database: ScratchDatabase, code: HubCode = THIS_CHECKOUT) -> CpuUse:
    own = os.times()
    backends = cpu_seconds(f" {database.name} ")
    return CpuUse(cpu_seconds(code.serving), backends, own.user + own.system)


def _cpu_per_item(
    since: CpuUse, items: int, database: ScratchDatabase, code: HubCode = THIS_CHECKOUT
) -> CpuUse:
    now = _cpu_now(database, code)
    pairs = zip(astuple(now), astuple(since), strict=True)
    return CpuUse(*(1e6 * (after - before) / items for after, before in pairs))


async def settle(database: ScratchDatabase, *, vacuum: bool = True) -> None:
    """Checkpoint (after a vacuum and analyze), so that a phase does not pay for the writes of
    the phase before it.

    Without it the baseline ran, in some runs, beside autovacuum working through the hub's
    rows or a checkpoint flushing them: its rate and PostgreSQL's CPU per row swung widely
    between runs (docs/performance.md). Before the hub's phase the database holds only the demo
    workspace: it is not analyzed then, as statistics of nearly empty tables would misguide the
    planner for the events that follow, where a running hub's autovacuum, if the server runs it
    (the first line printed says), keeps statistics in step.
    """
    conn = await asyncpg.connect(database.dsn)
    try:
        if vacuum:
            await conn.execute("VACUUM ANALYZE")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def count_events(database: ScratchDatabase) -> tuple[int, int]:
    conn = await asyncpg.connect(database.dsn)
    try:
        total = await conn.fetchval("SELECT count(*) FROM timeline_events")
        distinct = await conn.fetchval("SELECT count(DISTINCT external_id) FROM timeline_events")
    finally:
        await conn.close()
    return total, distinct


@dataclass(frozen=True, slots=True)
class Round:
    """One round: the hub's closed-loop rate, its latencies at half that rate, and the
    baseline's rate; the CPU use of both rates."""

    hub_rate: float
    hub_cpu: CpuUse
    base_rate: float
    base_cpu: CpuUse
    closed_latencies: list[float]
    paced_latencies: list[float]
    other: tuple[float, CpuUse] | None = None
    """With --against: the other checkout's closed-loop rate and CPU use, the same round."""

    @property
    def ratio(self) -> float:
        return self.hub_rate / self.base_rate

    @property
    def paced_rate(self) -> float:
        return self.hub_rate / 2

    @property
    def p99_ms(self) -> float:
        return percentile(self.paced_latencies, 0.99) * 1000

    @property
    def cpu_ratio(self) -> float:
        """Hub and PostgreSQL CPU per event, this checkout's over the other's (--against)."""
        assert self.other is not None
        other = self.other[1]
        return (self.hub_cpu.hub + self.hub_cpu.postgres) / (other.hub + other.postgres)


@dataclass(frozen=True, slots=True)
class Served:
    """A served hub under test: its database, webhook URL and signing secret, its code."""

    database: ScratchDatabase
    url: str
    secret: str
    code: HubCode = THIS_CHECKOUT


async def closed_loop(hub: Served, number: int, args: argparse.Namespace) -> ClosedLoop:
    """From a settled database, 500 webhooks to warm up, then the rest measured."""
    requests = prepare_requests(
        hub.url, hub.secret, args.events, f"r{number}", senders=5000 * number
    )
    await settle(hub.database, vacuum=False)
    await post_all(hub.url, requests[:500], args.concurrency)
    with client_gc_paused():
        spent = _cpu_now(hub.database, hub.code)
        rate, latencies = await post_all(hub.url, requests[500:], args.concurrency)
        cpu = _cpu_per_item(spent, args.events - 500, hub.database, hub.code)
    return ClosedLoop(rate, cpu, latencies)


@dataclass(frozen=True, slots=True)
class ClosedLoop:
    rate: float
    cpu: CpuUse
    latencies: list[float]


async def run_round(
    hub: Served, other: Served | None, number: int, args: argparse.Namespace
) -> Round:
    """Closed loop into the hub (and into the other checkout's, with --against: after this one's
    in even rounds, before it in odd ones), at once paced at half the rate it reached (as a hub
    runs: no checkpoint just before), then the baseline, settled again.

    The order alternates because it matters: this checkout measured against a copy of itself,
    always first, spent more CPU per event than the copy (docs/performance.md)."""
    database, url, secret = hub.database, hub.url, hub.secret
    measured = args.events - 500
    compared = None
    if other is not None and number % 2 == 1:
        compared = await closed_loop(other, number, args)
    loop = await closed_loop(hub, number, args)
    hub_rate, hub_cpu, closed_latencies = loop.rate, loop.cpu, loop.latencies
    if other is not None and number % 2 == 0:
        compared = await closed_loop(other, number, args)
    paced_rate = hub_rate / 2
    paced = prepare_requests(url, secret, int(paced_rate * args.paced_seconds), f"p{number}")
    with client_gc_paused():
        paced_latencies = await post_paced(url, paced, paced_rate)
    await settle(database)
    with client_gc_paused():
        base_rate, base_cpu = await baseline(database, measured, args.concurrency)
    return Round(
        hub_rate,
        hub_cpu,
        base_rate,
        base_cpu,
        closed_latencies,
        paced_latencies,
        (compared.rate, compared.cpu) if compared is not None else None,
    )


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="web processes of the hub (`serve --processes`; default: one per core)",
    )
    parser.add_argument(
        "--against",
        metavar="CHECKOUT",
        help="also measure another checkout's hub (a commit to compare with) in every round: "
        "its closed loop beside this one's, on a database of its own, the order alternating "
        "from round to round (use an even --rounds); prints the ratio of their CPU per event "
        "(hub and PostgreSQL)",
    )
    args = parser.parse_args()

    async with contextlib.AsyncExitStack() as databases:
        database = await databases.enter_async_context(scratch_database("switchboard_bench_ingest"))
        hub = _prepared(database, THIS_CHECKOUT)
        settings = await server_settings(database)
        other = None
        if args.against:
            other_database = await databases.enter_async_context(
                scratch_database("switchboard_bench_against")
            )
            other = _prepared(other_database, HubCode.at(args.against))
        async with contextlib.AsyncExitStack() as servers:
            await servers.enter_async_context(served_hub(hub.env, args.processes))
            if other is not None:
                await servers.enter_async_context(
                    served_hub(other.env, args.processes, other.served.code)
                )
            rounds = [
                await run_round(hub.served, other.served if other else None, n, args)
                for n in range(args.rounds)
            ]
        url, secret = hub.served.url, hub.served.secret
        total, distinct = await count_events(database)
        ceiling = await http_ceiling(
            url, prepare_requests(url, secret, args.events, "ceiling"), args.concurrency
        )

    expected = sum(args.events + len(each.paced_latencies) for each in rounds)
    by_ratio = median_round(rounds, lambda r: r.ratio)
    by_p99 = median_round(rounds, lambda r: r.p99_ms)
    print(settings)
    print(f"events posted                 {expected}")
    print(
        f"each round: {args.events - 500} webhooks at concurrency {args.concurrency} into the hub"
        f" ({args.processes} web processes), as many asyncpg INSERT+COMMITs, then"
        f" {args.paced_seconds:.0f} s of webhooks at half the hub's rate"
    )
    for number, each in enumerate(rounds, start=1):
        print(
            f"round {number}: hub {each.hub_rate:,.0f} events/s, baseline {each.base_rate:,.0f}"
            f" rows/s, ratio {each.ratio:.2f}; p99 ack at {each.paced_rate:,.0f}/s"
            f" {each.p99_ms:.1f} ms (p50 {percentile(each.paced_latencies, 0.5) * 1000:.1f},"
            f" max {max(each.paced_latencies) * 1000:.1f}); CPU µs per event: hub"
            f" {each.hub_cpu.hub:.0f}, PostgreSQL {each.hub_cpu.postgres:.0f}, client"
            f" {each.hub_cpu.client:.0f}; per baseline row: PostgreSQL"
            f" {each.base_cpu.postgres:.0f}, client {each.base_cpu.client:.0f}"
        )
    print(f"hub: acknowledged durable     {by_ratio.hub_rate:,.0f} events/s (median ratio's round)")
    print(f"baseline: asyncpg INSERT+COMMIT {by_ratio.base_rate:,.0f} rows/s (same round)")
    print(f"ratio hub/baseline (median)   {by_ratio.ratio:.2f}  (target >= {TARGET_RATIO})")
    print(f"HTTP ceiling: bare aiohttp    {ceiling:,.0f} requests/s (same client and concurrency)")
    print(
        f"ratio hub/HTTP ceiling        {by_ratio.hub_rate / ceiling:.2f};"
        f" ceiling/baseline {ceiling / by_ratio.base_rate:.2f}"
    )
    closed = by_ratio.closed_latencies
    print(
        f"closed-loop p50 / p99         {percentile(closed, 0.5) * 1000:.1f} / "
        f"{percentile(closed, 0.99) * 1000:.1f} ms (same round)"
    )
    print(f"p99 ack at half (median)      {by_p99.p99_ms:.1f} ms  (target < {TARGET_P99_MS} ms)")
    if args.against:
        _print_comparison(rounds, args.against)
    print(
        f"stored events                 {total} ({distinct} distinct): "
        f"lost {expected - distinct}, duplicated {total - distinct}"
    )
    ok = (
        by_ratio.ratio >= TARGET_RATIO
        and by_p99.p99_ms < TARGET_P99_MS
        and total == distinct == expected
    )
    print("PASS" if ok else "MISS")
    return 0 if ok else 1


@dataclass(frozen=True, slots=True)
class _Prepared:
    env: dict[str, str]
    served: Served


def _prepared(database: ScratchDatabase, code: HubCode) -> _Prepared:
    """A migrated database with the demo workspace, seeded by `code`'s own CLI."""
    env = hub_environment(database, free_port())
    run_cli(env, "migrate", code=code)
    sms = json.loads(run_cli(env, "demo", "--json", code=code))["channels"]["sms"]
    return _Prepared(env, Served(database, sms["webhook_url"], sms["secret"], code))


def _print_comparison(rounds: list[Round], checkout: str) -> None:
    for number, each in enumerate(rounds, start=1):
        assert each.other is not None
        rate, cpu = each.other
        print(
            f"round {number} against {checkout}: {rate:,.0f} events/s; CPU µs per event: hub"
            f" {cpu.hub:.0f}, PostgreSQL {cpu.postgres:.0f} (this checkout: hub"
            f" {each.hub_cpu.hub:.0f}, PostgreSQL {each.hub_cpu.postgres:.0f});"
            f" ratio {each.cpu_ratio:.3f}"
        )
    median = statistics.median(r.cpu_ratio for r in rounds)  # even count: mean of the middle two
    print(f"CPU per event (hub + PostgreSQL), this / {checkout} (median): {median:.3f}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
