"""pg_payments: ProcessPayment per second over gRPC on PostgreSQL, 16 clients, vs pgbench.

One durable throwaway cluster (devtools.pgcluster.start_cluster(durable=True): fsync on,
synchronous_commit on), two databases on it:

- pgbench's own, `pgbench -i -s 16`, then the built-in tpcb-like script with
  `pgbench -c 16 -j 2 -T 10 -n`: its `tps = …` is the baseline;
- CPay's, created and migrated with `initialize_at`, served by
  `start_server(open_engine_at(parse_db_url(dsn), …), "127.0.0.1:0")` in this process;
  16 closed-loop client threads with their own channels and payers (as grpc_payments).

Ratio = CPay payments/s / pgbench tps.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.core import Benchmark, Figure, RunConfig, Skip, Target, safe_ratio
from bench.grpc_load import (
    STAGES,
    Population,
    Sample,
    StageTimes,
    TimedEngine,
    measure,
    payment_callers,
)
from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.bootstrap import initialize_at, open_engine_at, parse_db_url
from cpay_engine.rpc.server import start_server
from devtools.pgcluster import Cluster, find_bindir, start_cluster

NAME = "pg_payments"
CLIENTS = 16
SCALE = 16
PGBENCH_THREADS = 2
DURATION_S = 10.0
WARMUP_S = 1.0
QUICK_SCALE = 1
QUICK_DURATION_S = 1.0
QUICK_WARMUP_S = 0.2
TARGET = Target("ratio", ">=", 0.4)
UNIT = "requests/s"
PGBENCH_TIMEOUT_S = 600.0

TPS = re.compile(r"^tps = ([0-9]+(?:\.[0-9]+)?) \((without|excluding) initial connection time\)")


class PgbenchFailed(RuntimeError):
    pass


def parse_tps(output: str) -> float:
    """The `tps = N (without initial connection time)` figure of a pgbench run."""
    for line in output.splitlines():
        match = TPS.match(line.strip())
        if match:
            return float(match.group(1))
    raise PgbenchFailed(f"no 'tps = …' line in pgbench's output:\n{output}")


def pgbench_path(bindir: Path) -> Path:
    """The cluster's own pgbench if it has one, else Debian's wrapper in /usr/bin."""
    for candidate in (bindir / "pgbench", Path("/usr/bin/pgbench")):
        if candidate.exists():
            return candidate
    found = shutil.which("pgbench")
    if found:
        return Path(found)
    raise Skip(f"pgbench not found in {bindir} or on PATH: run scripts/ensure-postgres.sh")


def dbname(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/")


def pgbench(cluster: Cluster, program: Path, args: list[str]) -> str:
    done = subprocess.run(
        [str(program), *args],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=PGBENCH_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise PgbenchFailed(f"pgbench {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout + done.stderr


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    init_s: float
    output: str


def run_pgbench(cluster: Cluster, program: Path, scale: int, duration_s: float) -> PgbenchResult:
    name = dbname(cluster.create_database("pgbench"))
    start = time.perf_counter()
    pgbench(cluster, program, ["-i", "-q", "-s", str(scale), name])
    init_s = time.perf_counter() - start
    output = pgbench(
        cluster,
        program,
        [
            "-c",
            str(CLIENTS),
            "-j",
            str(PGBENCH_THREADS),
            "-T",
            str(max(1, round(duration_s))),
            "-n",
            name,
        ],
    )
    return PgbenchResult(parse_tps(output), init_s, output)


def run_cpay(cluster: Cluster, config: RunConfig, warmup_s: float, window_s: float) -> Sample:
    url = parse_db_url(cluster.create_database("cpay"))
    engine_key, admin_key = SigningKey.generate(), SigningKey.generate()
    initialize_at(url, "admin", admin_key, engine_key)
    times = StageTimes()
    engine = TimedEngine(open_engine_at(url, receipt_key=lambda: engine_key), times)
    try:
        population = Population.create(engine, admin_key, CLIENTS)
        server = start_server(engine, "127.0.0.1:0")
        try:
            sample = measure(
                payment_callers(f"127.0.0.1:{server.port}", population),
                CLIENTS,
                warmup_s,
                window_s,
                times,
            )
        finally:
            server.stop(grace_s=1.0)
    finally:
        engine.close()
    config.log(
        f"  CPay over gRPC, {CLIENTS} clients: {sample.rate:,.0f} payments/s, CPU "
        f"{sample.cpu_us_per_call:,.0f} µs/payment in this process ({sample.cores:.2f} cores)"
    )
    config.log(f"    server stages: {sample.stages.describe(STAGES)}")
    return sample


def run(config: RunConfig) -> list[Figure]:
    try:
        bindir = find_bindir()
    except RuntimeError as exc:
        raise Skip(str(exc)) from None
    program = pgbench_path(bindir)
    scale = QUICK_SCALE if config.quick else SCALE
    duration = QUICK_DURATION_S if config.quick else DURATION_S
    warmup = QUICK_WARMUP_S if config.quick else WARMUP_S
    cluster = start_cluster(durable=True)
    try:
        bench = run_pgbench(cluster, program, scale, duration)
        config.log(
            f"  pgbench tpcb-like, scale {scale}, {CLIENTS} clients: {bench.tps:,.0f} tps "
            f"(init {bench.init_s:.1f} s)"
        )
        cpay = run_cpay(cluster, config, warmup, duration)
    finally:
        cluster.stop()
    per_payment_us = CLIENTS / cpay.rate * 1e6 if cpay.rate else 0.0
    return [
        Figure(
            benchmark=NAME,
            label=f"ProcessPayment/s over gRPC, PostgreSQL server, {CLIENTS} clients",
            unit=UNIT,
            measured=cpay.rate,
            baseline=bench.tps,
            baseline_label=f"pgbench tpcb-like, scale {scale}, {CLIENTS} clients, same cluster",
            ratio=safe_ratio(cpay.rate, bench.tps),
            ratio_label="CPay payments / pgbench transactions",
            target=TARGET,
            samples=(cpay.rate,),
            baseline_samples=(bench.tps,),
            notes=(
                f"Per payment: {per_payment_us:,.0f} µs round trip per client, "
                f"{cpay.cpu_us_per_call:,.0f} µs CPU in this process (clients and server, "
                f"{cpay.cores:.2f} cores busy); server side {cpay.stages.describe(STAGES)} "
                "(begin = taking a pooled connection, commit = COMMIT with its WAL flush)."
            ),
        )
    ]


BENCHMARK = Benchmark(
    name=NAME,
    title="ProcessPayment over gRPC on PostgreSQL vs pgbench",
    method=(
        "One throwaway PostgreSQL cluster per run from `devtools.pgcluster.start_cluster("
        "durable=True)` (fsync and synchronous_commit on, unix socket, shared_buffers 128MB). "
        f"Baseline first: `pgbench -i -s {SCALE}` on its own database, then the built-in "
        f"tpcb-like script, `pgbench -c {CLIENTS} -j {PGBENCH_THREADS} -T {DURATION_S:g} -n`; "
        "its `tps = … (without initial connection time)`. Then CPay on a fresh database of "
        "the same cluster, created and migrated by `initialize_at`, served by "
        '`start_server(open_engine_at(parse_db_url(dsn), …), "127.0.0.1:0")` in the '
        f"benchmark's process (16 gRPC worker threads, a psycopg pool of up to 16), {CLIENTS} "
        "users each minted far more than a run can spend, and "
        f"{CLIENTS} closed-loop client threads, each with its own channel (`SignedClient` over "
        "`GrpcTransport`) and its own payer, paying 1 minor unit to a random other user. "
        f"After one call per client and {WARMUP_S:g} s of warm-up, the payments answered in "
        f"a {DURATION_S:g} s window are counted. Both sides commit one durable transaction "
        "per unit (a tpcb-like transaction is 3 UPDATEs, a SELECT and an INSERT; a CPay "
        "payment is a signed request, a nonce, a ledger move with row locks, postings, a "
        "signed receipt and an audit entry). Server stages as in grpc_payments. Ratio = CPay "
        "payments/s / pgbench tps (higher is better). `--quick` uses scale "
        f"{QUICK_SCALE} and {QUICK_DURATION_S:g} s windows."
    ),
    run=run,
)
