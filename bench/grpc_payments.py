"""grpc_payments: ProcessPayment requests per second over gRPC on loopback, SQLite server.

The server is `start_server(engine, "127.0.0.1:0")` in this process, its engine on a fresh
SQLite file (WAL, synchronous=FULL, BEGIN IMMEDIATE per payment), with sixteen funded
users. 1 and 16 closed-loop client threads, each with its own channel (`GrpcTransport`
under a `SignedClient`) and its own payer, pay 1 minor unit to a random other user.

Baseline, same server stack and run: a unary echo RPC (raw bytes in, same bytes out,
no (de)serializer) registered through `extra_handlers`, called with a payload the size
of a signed PaymentRequest by 1 and 16 client threads with their own channels.

Then the architecture question, each at 16 clients: the same sync server with one
worker thread instead of sixteen, and a `grpc.aio` server (bench.grpc_load.AioServer)
that hands every blocking engine call to a 16-thread executor (payments and echo).

The server-side stage breakdown comes from separate windows on a fourth server whose
engine has stage timers (TimedEngine over the same store); the timers cost the payment
path several percent, so the ratios come from untimed windows.

Every configuration is measured once per round, the rounds in alternating order, so a
ratio compares windows taken close together.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.core import CONTEXT, Benchmark, Figure, RunConfig, Target, safe_ratio
from bench.grpc_load import (
    STAGES,
    AioServer,
    Population,
    Sample,
    StageTimes,
    TimedEngine,
    combine,
    echo_callers,
    echo_handler,
    measure,
    payment_callers,
    signed_payment_size,
)
from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.bootstrap import initialize_local, open_local_engine
from cpay_engine.rpc.server import start_server

NAME = "grpc_payments"
CLIENTS = 16
# Every configuration is measured once per round; every second round runs in reverse order.
# Single 2-round runs of the 16-client ratio ranged 0.29-0.35 on one day: 4 rounds halve
# what one drifting round can move the figure.
ROUNDS = 4
WARMUP_S = 0.5
WINDOW_S = 2.5
QUICK_ROUNDS = 1
QUICK_WARMUP_S = 0.1
QUICK_WINDOW_S = 0.3
SERVER_WORKERS = 16  # start_server's default max_workers
TARGET = Target("ratio", ">=", 0.3)
UNIT = "requests/s"
ECHO_LABEL = "echo RPC, same server stack"


@dataclass(frozen=True, slots=True)
class Config:
    """One thing to measure: a server, a kind of call, a number of client threads."""

    key: str
    server: str  # "sync" (start_server), "sync1" (max_workers=1), "aio", or "timed"
    kind: str  # "echo" or "pay"
    clients: int


CONFIGS = (
    Config("echo1", "sync", "echo", 1),
    Config("pay1", "sync", "pay", 1),
    Config("echo16", "sync", "echo", CLIENTS),
    Config("pay16", "sync", "pay", CLIENTS),
    Config("pay16_one_worker", "sync1", "pay", CLIENTS),
    Config("pay16_aio", "aio", "pay", CLIENTS),
    Config("echo16_aio", "aio", "echo", CLIENTS),
    # Stage timers cost the payment path several percent (a lock and clock reads per
    # stage), so they run on their own server and windows; no ratio uses these.
    Config("pay1_timed", "timed", "pay", 1),
    Config("pay16_timed", "timed", "pay", CLIENTS),
)


@dataclass(frozen=True)
class Results:
    rounds: dict[str, list[Sample]]  # by Config.key, one Sample per round
    payload_bytes: int

    def total(self, key: str) -> Sample:
        return combine(self.rounds[key])

    def rates(self, key: str) -> tuple[float, ...]:
        return tuple(s.rate for s in self.rounds[key])

    def paired_ratios(self, key: str, baseline: str) -> str:
        pairs = zip(self.rounds[key], self.rounds[baseline], strict=True)
        return ", ".join(f"{safe_ratio(a.rate, b.rate):.2f}" for a, b in pairs)


def describe(sample: Sample, clients: int) -> str:
    latency_ms = clients / sample.rate * 1e3 if sample.rate else 0.0
    return (
        f"{sample.rate:7,.0f}/s, {latency_ms:6.2f} ms/call per client, "
        f"CPU {sample.cpu_us_per_call:5,.0f} µs/call ({sample.cores:.2f} cores)"
    )


def measure_all(config: RunConfig, root: Path) -> Results:
    rounds = QUICK_ROUNDS if config.quick else ROUNDS
    warmup, window = (QUICK_WARMUP_S, QUICK_WINDOW_S) if config.quick else (WARMUP_S, WINDOW_S)
    path = root / "server.db"
    engine_key, admin_key = SigningKey.generate(), SigningKey.generate()
    initialize_local(path, "admin", admin_key, engine_key)
    engine = open_local_engine(path, receipt_key=lambda: engine_key)
    times = StageTimes()
    timed = TimedEngine(engine, times)  # the same store underneath
    # Untimed windows still count COMMITs and the writes in them (the store keeps totals).
    counts = StageTimes()
    counts.counters = times.counters
    results: dict[str, list[Sample]] = {c.key: [] for c in CONFIGS}
    try:
        population = Population.create(engine, admin_key, CLIENTS)
        payload = os.urandom(signed_payment_size(population.keys[population.handles[0]]))
        with contextlib.ExitStack() as servers:
            sync = start_server(
                engine, "127.0.0.1:0", max_workers=SERVER_WORKERS, extra_handlers=[echo_handler()]
            )
            servers.callback(sync.stop, 1.0)
            sync1 = start_server(engine, "127.0.0.1:0", max_workers=1)
            servers.callback(sync1.stop, 1.0)
            aio = AioServer(engine, workers=SERVER_WORKERS)
            servers.callback(aio.stop)
            sync_timed = start_server(timed, "127.0.0.1:0", max_workers=SERVER_WORKERS)
            servers.callback(sync_timed.stop, 1.0)
            targets = {
                "sync": f"127.0.0.1:{sync.port}",
                "sync1": f"127.0.0.1:{sync1.port}",
                "aio": f"127.0.0.1:{aio.port}",
                "timed": f"127.0.0.1:{sync_timed.port}",
            }
            for round_ in range(rounds):
                order = CONFIGS if round_ % 2 == 0 else tuple(reversed(CONFIGS))
                for c in order:
                    target = targets[c.server]
                    if c.kind == "echo":
                        sample = measure(echo_callers(target, payload), c.clients, warmup, window)
                    else:
                        callers = payment_callers(target, population)
                        stages = times if c.server == "timed" else counts
                        sample = measure(callers, c.clients, warmup, window, stages)
                    results[c.key].append(sample)
                    config.log(
                        f"  round {round_ + 1}, {c.key:16} {describe(sample, c.clients)}"
                        + (f"; {sample.stages.describe(STAGES)}" if c.server == "timed" else "")
                    )
    finally:
        engine.close()
    return Results(results, len(payload))


def clients_text(clients: int) -> str:
    return f"{clients} client" + ("" if clients == 1 else "s")


def load_note(sample: Sample, clients: int) -> str:
    wall_us = clients / sample.rate * 1e6 if sample.rate else 0.0
    return (
        f"Per payment at {clients_text(clients)}: {wall_us:,.0f} µs round trip per client, "
        f"{sample.cpu_us_per_call:,.0f} µs CPU in this process (clients and server, "
        f"{sample.cores:.2f} cores busy)."
    )


def stage_note(timed: Sample, clients: int) -> str:
    """The server-side stages, from the windows on the timed server (not the ratio's)."""
    return (
        f" Server side, from the separate windows with stage timers on "
        f"({timed.rate:,.0f} payments/s at {clients_text(clients)}): "
        f"{timed.stages.describe(STAGES)}."
    )


def outside_us(timed: Sample) -> float:
    """Round trip minus server dispatch, at one client (where they do not overlap)."""
    if not timed.rate:
        return 0.0
    return 1e6 / timed.rate - timed.stages.per_call_us("dispatch")


def batch_note(sample: Sample) -> str:
    """How many writes SQLite's group commit put in each COMMIT during the window."""
    per_commit = sample.stages.writes_per_commit()
    if per_commit <= 0:
        return ""
    return (
        f" Group commit: {per_commit:.1f} writes (payments and the nonces of reads) per "
        f"COMMIT on average, {sample.stages.calls.get('commits', 0):,} COMMITs in all."
    )


def figures(r: Results) -> list[Figure]:
    pay1, pay16 = r.total("pay1"), r.total("pay16")
    timed1, timed16 = r.total("pay1_timed"), r.total("pay16_timed")
    echo1, echo16 = r.total("echo1"), r.total("echo16")
    one_worker, aio_pay, aio_echo = (
        r.total("pay16_one_worker"),
        r.total("pay16_aio"),
        r.total("echo16_aio"),
    )
    scaling = safe_ratio(pay16.rate, pay1.rate)
    echo_scaling = safe_ratio(echo16.rate, echo1.rate)

    def paired(key: str, baseline: str) -> str:
        return f"Ratio per round (paired windows): {r.paired_ratios(key, baseline)}. "

    return [
        Figure(
            benchmark=NAME,
            label="ProcessPayment/s over gRPC, SQLite server, 1 client",
            unit=UNIT,
            measured=pay1.rate,
            baseline=echo1.rate,
            baseline_label=f"{ECHO_LABEL}, 1 client, {r.payload_bytes} B",
            ratio=safe_ratio(pay1.rate, echo1.rate),
            ratio_label="payments / echo",
            target=CONTEXT,
            samples=r.rates("pay1"),
            baseline_samples=r.rates("echo1"),
            notes=(
                f"{paired('pay1', 'echo1')}{load_note(pay1, 1)}{stage_note(timed1, 1)} "
                "Outside Engine.dispatch (client-side signing and protobuf, gRPC both ways, "
                f"the server's (de)serialization): {outside_us(timed1):,.0f} µs of the timed "
                "round trip; a whole "
                f"echo round trip takes {1e6 / echo1.rate if echo1.rate else 0.0:,.0f} µs."
            ),
        ),
        Figure(
            benchmark=NAME,
            label=f"ProcessPayment/s over gRPC, SQLite server, {CLIENTS} clients",
            unit=UNIT,
            measured=pay16.rate,
            baseline=echo16.rate,
            baseline_label=f"{ECHO_LABEL}, {CLIENTS} clients, {r.payload_bytes} B",
            ratio=safe_ratio(pay16.rate, echo16.rate),
            ratio_label="payments / echo",
            target=TARGET,
            samples=r.rates("pay16"),
            baseline_samples=r.rates("echo16"),
            notes=(
                f"{paired('pay16', 'echo16')}{load_note(pay16, CLIENTS)}"
                f"{stage_note(timed16, CLIENTS)} Going from 1 to "
                f"{CLIENTS} clients multiplies payments/s by {scaling:.2f} and echo/s by "
                f"{echo_scaling:.2f}." + batch_note(pay16)
            ),
        ),
        Figure(
            benchmark=NAME,
            label=f"ProcessPayment/s, {CLIENTS} clients, sync server with 1 worker thread",
            unit=UNIT,
            measured=one_worker.rate,
            baseline=pay16.rate,
            baseline_label=f"the same with start_server's {SERVER_WORKERS} workers",
            ratio=safe_ratio(one_worker.rate, pay16.rate),
            ratio_label=f"1 worker / {SERVER_WORKERS} workers",
            target=CONTEXT,
            samples=r.rates("pay16_one_worker"),
            baseline_samples=r.rates("pay16"),
            notes=(
                f"{paired('pay16_one_worker', 'pay16')}{load_note(one_worker, CLIENTS)}"
                f"{batch_note(one_worker)} With one worker there is never a second writer "
                "to batch, so every payment pays a whole COMMIT; with "
                f"{SERVER_WORKERS} workers the payments queued behind the write lock share one."
            ),
        ),
        Figure(
            benchmark=NAME,
            label=f"ProcessPayment/s, {CLIENTS} clients, grpc.aio server + "
            f"{SERVER_WORKERS}-thread executor",
            unit=UNIT,
            measured=aio_pay.rate,
            baseline=pay16.rate,
            baseline_label="sync grpc.server + ThreadPoolExecutor (start_server)",
            ratio=safe_ratio(aio_pay.rate, pay16.rate),
            ratio_label="aio / sync",
            target=CONTEXT,
            samples=r.rates("pay16_aio"),
            baseline_samples=r.rates("pay16"),
            notes=(
                f"{paired('pay16_aio', 'pay16')}{load_note(aio_pay, CLIENTS)}"
                f"{batch_note(aio_pay)} CPU per payment in this process: aio "
                f"{aio_pay.cpu_us_per_call:,.0f} µs, sync {pay16.cpu_us_per_call:,.0f} µs."
            ),
        ),
        Figure(
            benchmark=NAME,
            label=f"echo RPCs/s, {CLIENTS} clients, grpc.aio server",
            unit=UNIT,
            measured=aio_echo.rate,
            baseline=echo16.rate,
            baseline_label="sync grpc.server + ThreadPoolExecutor (start_server)",
            ratio=safe_ratio(aio_echo.rate, echo16.rate),
            ratio_label="aio / sync",
            target=CONTEXT,
            samples=r.rates("echo16_aio"),
            baseline_samples=r.rates("echo16"),
            notes=(
                f"{paired('echo16_aio', 'echo16')}CPU per echo in this process: aio "
                f"{aio_echo.cpu_us_per_call:,.0f} µs, sync {echo16.cpu_us_per_call:,.0f} µs."
            ),
        ),
    ]


def run(config: RunConfig) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="cpay-bench-grpc-") as tmp:
        return figures(measure_all(config, Path(tmp)))


BENCHMARK = Benchmark(
    name=NAME,
    title="ProcessPayment over gRPC on loopback, SQLite server",
    method=(
        'Server: `start_server(engine, "127.0.0.1:0")` in the benchmark\'s process (sync '
        f"`grpc.server` on a {SERVER_WORKERS}-thread `ThreadPoolExecutor`), its engine on a "
        "fresh SQLite file (WAL, `synchronous=FULL`, `BEGIN IMMEDIATE`; writers that queue "
        "behind the write lock share one transaction and one COMMIT, each in its own "
        "savepoint, and hear of their result only after that COMMIT: `SqliteStore.write`'s "
        f"group commit), {CLIENTS} users each minted far more than a run can spend. Clients: 1 and "
        f"{CLIENTS} closed-loop threads, each with its own channel (`SignedClient` over its own "
        "`GrpcTransport`) and its own payer user, paying 1 minor unit to a random other user; "
        "every request is serialized, signed, sent, verified, committed and answered with a "
        "signed receipt. Baseline in the same run and server: a unary echo RPC added with "
        "`extra_handlers` (identity on raw bytes, no (de)serializer), called through "
        '`channel.unary_unary("/bench.Echo/Echo")` with random bytes the size of a signed '
        "PaymentRequest, by the same number of threads with their own channels. Each "
        f"window: every client connects and makes one call, {WARMUP_S:g} s warm-up, then the "
        f"calls answered in {WINDOW_S:g} s are counted. All nine configurations (echo and "
        "payments at 1 and 16 clients, the three architecture windows below, and the two "
        "timed windows) run in "
        f"{ROUNDS} rounds, every second one in reverse order, so that drift in the machine or the "
        "disk hits each side of a ratio alike; a figure is its calls over its seconds summed "
        "over the rounds, and the samples are the rounds. Ratio = payments / echo "
        f"(higher is better), target at {CLIENTS} clients. Server-side stages come from "
        "payments at 1 and 16 clients on a fourth server whose engine wraps the same store "
        "with timers (`bench.grpc_load.TimedEngine`), in windows of their own: the timers "
        "take a lock and read the clock at every stage, which cost the payment windows "
        "several percent when they were on, so no ratio is taken from a timed window. "
        "Stages: "
        "dispatch = all of `Engine.dispatch`, read = reader snapshots (a key and its owner, or a "
        "recipient, are read only the first time the engine sees them), begin = from "
        "the write call until the payment's own statements start (queueing for the write "
        "lock, `BEGIN IMMEDIATE`, and the payments batched ahead of it), work = its own "
        "statements, commit = from there until its result is back (the payments batched "
        "after it, and `COMMIT` with the WAL fsync); they are means over the window's calls, "
        "so at 16 clients they overlap in time. CPU is this whole process "
        "(clients and server share it and its GIL). "
        "**Architecture.** CPay serves gRPC with the sync `grpc.server` on a thread pool "
        "(`start_server`): every engine call blocks (sqlite3, psycopg), and SQLite admits "
        f"one writer at a time. Three more configurations at {CLIENTS} clients test that "
        "choice, on two more servers that, like the first, are up for the whole run. "
        "(1) The same sync server with one worker thread instead of "
        f"{SERVER_WORKERS}: a ratio near or above 1 would mean more server threads add no "
        "write throughput on SQLite; well below 1, the threads that queue for the write "
        "lock are what lets group commit share a COMMIT (and PostgreSQL runs them side by "
        "side; see pg_payments). (2) A `grpc.aio` server "
        "(`bench.grpc_load.AioServer`, built here from the same METHODS, not product code) "
        f"that must hand every engine call to a {SERVER_WORKERS}-thread executor anyway, "
        "since a blocking sqlite3 or psycopg call cannot run on the event loop; echo and "
        "payments. aio / sync ratios near or below 1 mean an aio server would add a second "
        "concurrency model (loop plus executor) for no throughput: the payment's time is "
        "spent in blocking engine work, not in the RPC layer."
    ),
    run=run,
)
