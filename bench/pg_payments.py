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
import threading
import time
from collections import Counter
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
from bench.machine import family_cpu_s, machine_cpu_s, nproc
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


WAIT_LABELS: dict[tuple[str, str], str] = {
    ("Lock", "transactionid"): "waiting for a row lock",
    ("Lock", "tuple"): "waiting for a row lock",
    ("Lock", "advisory"): "waiting for an advisory lock",
    ("IO", "WALSync"): "flushing WAL",
    ("IO", "WALWrite"): "flushing WAL",
    ("LWLock", "WALWrite"): "flushing WAL",
}


def wait_label(state: str | None, event_type: str | None, event: str | None) -> str:
    """What a CPay backend was doing in one pg_stat_activity sample, in words."""
    if state == "idle in transaction":
        return "idle in transaction (waiting for the server's next statement)"
    if state == "idle":
        return "idle (between transactions)"
    if event_type in (None, "Client"):
        return "running a statement"
    return WAIT_LABELS.get((event_type, event or ""), f"{event_type}/{event}")


class WaitSampler:
    """Samples pg_stat_activity for one database's backends every `interval_s`."""

    def __init__(self, admin_dsn: str, database: str, interval_s: float = 0.02) -> None:
        self.admin_dsn = admin_dsn
        self.database = database
        self.interval_s = interval_s
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-pg-waits", daemon=True)
        self.error = ""

    def _sample(self) -> None:
        import psycopg  # here, not at module level: `python -m bench --list` stays fast

        try:
            with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
                while not self._stop.wait(self.interval_s):
                    rows = conn.execute(
                        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                        "WHERE datname = %s AND backend_type = 'client backend' "
                        "AND pid <> pg_backend_pid()",
                        (self.database,),
                    ).fetchall()
                    for state, event_type, event in rows:
                        self.counts[wait_label(state, event_type, event)] += 1
        except psycopg.Error as exc:
            self.error = str(exc)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10.0)

    def describe(self) -> str:
        total = sum(self.counts.values())
        if not total:
            return f"no samples ({self.error or 'nothing sampled'})"
        shares = ", ".join(
            f"{n / total:.0%} {label}"
            for label, n in self.counts.most_common()
            if n / total >= 0.005
        )
        return f"{total:,} backend samples: {shares}"


class ClusterCpu:
    """CPU seconds the cluster's processes (postmaster, backends, WAL writer, …) use in a
    window: the children of the postmaster named in the data directory's postmaster.pid.
    `seconds` stays None where /proc or that file cannot be read."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._start: dict[int, float] = {}
        self.seconds: float | None = None

    def _read(self) -> dict[int, float] | None:
        try:
            postmaster = int((self.cluster.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return family_cpu_s(postmaster) or None

    def start(self) -> None:
        self._start = self._read() or {}

    def stop(self) -> None:
        end = self._read()
        if end is None or not self._start:
            self.seconds = None
            return
        self.seconds = sum(cpu - self._start.get(pid, 0.0) for pid, cpu in end.items())


class MachineCpu:
    """Busy and total CPU seconds of the whole machine in a window (/proc/stat)."""

    def __init__(self) -> None:
        self._start: tuple[float, float] | None = None
        self.busy_s: float | None = None
        self.total_s: float | None = None

    def start(self) -> None:
        self._start = machine_cpu_s()

    def stop(self) -> None:
        end = machine_cpu_s()
        if end is None or self._start is None:
            return
        self.busy_s, self.total_s = end[0] - self._start[0], end[1] - self._start[1]


def cpu_budget(
    sample: Sample, cluster_cpu: ClusterCpu, machine: MachineCpu, target_rate: float, cpus: int
) -> str:
    """Where the CPU of a window went per payment, against what the target rate leaves."""
    parts = [f"this process (clients and server) {sample.cpu_us_per_call:,.0f} µs"]
    if cluster_cpu.seconds is not None and sample.calls:
        parts.append(f"PostgreSQL's processes {cluster_cpu.seconds / sample.calls * 1e6:,.0f} µs")
    text = "CPU per payment in that window: " + ", ".join(parts)
    if machine.busy_s is not None and machine.total_s:
        text += f"; the machine's {cpus} CPUs were {machine.busy_s / machine.total_s:.0%} busy"
    if target_rate > 0:
        text += (
            f". At the target rate ({TARGET.bound:g} × pgbench = {target_rate:,.0f} payments/s) "
            f"{cpus} CPUs leave {cpus / target_rate * 1e6:,.0f} µs of CPU per payment for "
            "everything on the machine"
        )
    return text


@dataclass(frozen=True)
class CpayResult:
    one: Sample  # 1 client, stage timers on
    many: Sample  # CLIENTS clients, no timers: the ratio's window
    many_timed: Sample  # CLIENTS clients, stage timers on
    waits: str
    cluster_cpu: ClusterCpu  # in the `many` window
    machine_cpu: MachineCpu  # in the `many` window


def run_cpay(cluster: Cluster, config: RunConfig, warmup_s: float, window_s: float) -> CpayResult:
    dsn = cluster.create_database("cpay")
    url = parse_db_url(dsn)
    engine_key, admin_key = SigningKey.generate(), SigningKey.generate()
    initialize_at(url, "admin", admin_key, engine_key)
    times = StageTimes()
    engine = open_engine_at(url, receipt_key=lambda: engine_key)
    # Stage timers cost the payment path several percent, so they run on a second server
    # over the same engine and store, in windows of their own; the ratio's window is untimed.
    timed = TimedEngine(engine, times)
    try:
        population = Population.create(engine, admin_key, CLIENTS)
        server = start_server(engine, "127.0.0.1:0")
        timed_server = start_server(timed, "127.0.0.1:0")
        try:
            callers = payment_callers(f"127.0.0.1:{server.port}", population)
            timed_callers = payment_callers(f"127.0.0.1:{timed_server.port}", population)
            one = measure(timed_callers, 1, warmup_s, window_s / 2, times)
            config.log(
                f"  CPay over gRPC,  1 client:  {one.rate:,.0f} payments/s, CPU "
                f"{one.cpu_us_per_call:,.0f} µs/payment in this process ({one.cores:.2f} cores)"
            )
            config.log(f"    server stages: {one.stages.describe(STAGES)}")
            cluster_cpu, machine_cpu = ClusterCpu(cluster), MachineCpu()
            with WaitSampler(cluster.dsn(), dbname(dsn)) as waits:
                many = measure(
                    callers, CLIENTS, warmup_s, window_s, meters=(cluster_cpu, machine_cpu)
                )
            many_timed = measure(timed_callers, CLIENTS, warmup_s, window_s / 2, times)
        finally:
            server.stop(grace_s=1.0)
            timed_server.stop(grace_s=1.0)
    finally:
        engine.close()
    config.log(
        f"  CPay over gRPC, {CLIENTS} clients: {many.rate:,.0f} payments/s, CPU "
        f"{many.cpu_us_per_call:,.0f} µs/payment in this process ({many.cores:.2f} cores)"
    )
    config.log(
        f"    server stages ({many_timed.rate:,.0f} payments/s with timers on): "
        f"{many_timed.stages.describe(STAGES)}"
    )
    config.log(f"    PostgreSQL: {waits.describe()}")
    return CpayResult(one, many, many_timed, waits.describe(), cluster_cpu, machine_cpu)


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
    many, one, many_timed = cpay.many, cpay.one, cpay.many_timed
    per_payment_us = CLIENTS / many.rate * 1e6 if many.rate else 0.0
    budget = cpu_budget(many, cpay.cluster_cpu, cpay.machine_cpu, TARGET.bound * bench.tps, nproc())
    config.log(f"    {budget}")
    return [
        Figure(
            benchmark=NAME,
            label=f"ProcessPayment/s over gRPC, PostgreSQL server, {CLIENTS} clients",
            unit=UNIT,
            measured=many.rate,
            baseline=bench.tps,
            baseline_label=f"pgbench tpcb-like, scale {scale}, {CLIENTS} clients, same cluster",
            ratio=safe_ratio(many.rate, bench.tps),
            ratio_label="CPay payments / pgbench transactions",
            target=TARGET,
            samples=(many.rate,),
            baseline_samples=(bench.tps,),
            notes=(
                f"Per payment: {per_payment_us:,.0f} µs round trip per client, "
                f"{many.cpu_us_per_call:,.0f} µs CPU in this process (clients and server, "
                f"{many.cores:.2f} cores busy). Server side, from a separate window with stage "
                f"timers on ({many_timed.rate:,.0f} payments/s): "
                f"{many_timed.stages.describe(STAGES)}. "
                f"With 1 client: {one.rate:,.0f} payments/s (dispatch "
                f"{one.stages.per_call_us('dispatch'):,.0f} µs), so {CLIENTS} clients give "
                f"{safe_ratio(many.rate, one.rate):.2f}× that. CPay's backends during the "
                f"{CLIENTS}-client warm-up and window (pg_stat_activity every 20 ms): "
                f"{cpay.waits}. {budget} (the pg_stat_activity sampler's connection "
                "included)."
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
        "signed receipt and an audit entry). Before the timed run, one client alone for "
        f"half a window gives the uncontended rate (in the notes). Server stages as in "
        "grpc_payments (from a second server over the same engine with stage timers on, in "
        "windows of their own: 1 client, and after the ratio's untimed window, "
        f"{CLIENTS} clients for half a window), except that begin = taking a pooled "
        "connection and work includes "
        "waiting for account row locks (`SELECT … FOR UPDATE`) and for the ledger advisory "
        "lock, which every payment takes when it inserts its transaction row and holds until "
        "COMMIT (it orders seq and the audit chain). During the "
        f"{CLIENTS}-client warm-up and window, "
        "a separate connection samples `pg_stat_activity` for CPay's database every 20 ms "
        "and the notes give what its backends were doing. Ratio = CPay payments/s / "
        "pgbench tps (higher is better). `--quick` uses scale "
        f"{QUICK_SCALE} and {QUICK_DURATION_S:g} s windows."
    ),
    run=run,
)
