"""Where a gRPC payment spends its time: `python -m bench.profile_grpc [--db sqlite|postgres]`.

Not a benchmark (nothing is written to docs/benchmarks.md): a diagnostic for the
grpc_payments and pg_payments figures. It serves the engine with `start_server` as they
do, runs N payment client threads for a window, and prints:

1. the rate and the server-side stages (bench.grpc_load.TimedEngine), unprofiled;
2. every SQL statement of one payment with its median time (PostgreSQL only: psycopg's
   Connection.execute/commit/rollback and Cursor.executemany are timed in place), marking
   those run while the ledger advisory lock is held;
3. a cProfile of every Python thread of the process (clients, gRPC server threads, the
   engine) during a second window, by own time. cProfile can only profile the thread
   that enables it, so `threading.setprofile` starts one profiler in each new thread;
   the profiled rate is lower than the plain one. Times are CPU time of each thread
   (time.thread_time), so waiting (locks, fsync, the network) does not count.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from bench.grpc_load import (
    STAGES,
    Population,
    StageTimes,
    TimedEngine,
    measure,
    payment_callers,
)
from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.bootstrap import (
    DbUrl,
    initialize_at,
    initialize_local,
    open_engine_at,
    open_local_engine,
    parse_db_url,
)
from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.rpc.server import start_server
from cpay_engine.service.engine import Engine

# The ledger lock, alone or as the first CTE of the ledger entry (PostgresDialect.record_entry).
LEDGER_LOCK_SQL = "pg_advisory_xact_lock(%s)"


class ThreadProfiles:
    """One cProfile.Profile per thread started while installed (plus the caller's), each
    counting its thread's CPU time."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()

    def _start_here(self, _frame: FrameType, _event: str, _arg: Any) -> None:
        profile = cProfile.Profile(time.thread_time)
        with self._lock:
            self.profiles.append(profile)
        profile.enable()  # replaces this bootstrap hook for the thread

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        threading.setprofile(self._start_here)
        main = cProfile.Profile(time.thread_time)
        self.profiles.append(main)
        main.enable()
        try:
            yield
        finally:
            main.disable()
            threading.setprofile(None)

    def report(self, top: int) -> str:
        out = io.StringIO()
        stats: pstats.Stats | None = None
        for profile in self.profiles:
            profile.disable()
            if stats is None:
                stats = pstats.Stats(profile, stream=out)
            else:
                stats.add(profile)
        if stats is None:
            return "(no profile)"
        stats.sort_stats("tottime").print_stats(top)
        return out.getvalue()


class StatementLog:
    """psycopg statement times by SQL text, and one payment's statements in order."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.current: list[str] = []
        self.last: list[str] = []
        self.enabled = False

    def add(self, sql: str, seconds: float) -> None:
        if self.enabled:
            key = re.sub(r"\s+", " ", sql).strip()[:90]
            self.times[key].append(seconds)
            self.current.append(key)

    def next_payment(self) -> None:
        if self.current:
            self.last = self.current
        self.current = []

    def table(self) -> str:
        lines = [f"  {'median µs':>9}  {'ledger lock':<11}  statement"]
        locked = False
        total = in_lock = 0.0
        for key in self.last:
            if LEDGER_LOCK_SQL in key:
                locked = True
            seconds = statistics.median(self.times[key])
            total += seconds
            in_lock += seconds if locked else 0.0
            lines.append(f"  {seconds * 1e6:9,.0f}  {'held' if locked else '':<11}  {key}")
        lines.append(
            f"  {len(self.last)} statements, {total * 1e6:,.0f} µs in all, "
            f"{in_lock * 1e6:,.0f} µs of them with the ledger lock held (medians; the "
            "commit also waits for the WAL flush; in a pipeline, statements are queued and "
            "sent together, and the time shows at the one whose result is read)"
        )
        return "\n".join(lines)


@contextlib.contextmanager
def psycopg_timed(log: StatementLog) -> Iterator[None]:
    import psycopg

    connection: Any = psycopg.Connection
    cursor: Any = psycopg.Cursor
    originals = (connection.execute, connection.commit, connection.rollback, cursor.executemany)
    execute, commit, rollback, executemany = originals

    def timed_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(self, query, *args, **kwargs)
        finally:
            text = query.decode() if isinstance(query, bytes) else str(query)
            log.add(text, time.perf_counter() - start)

    def timed_executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return executemany(self, query, *args, **kwargs)
        finally:
            log.add(f"(executemany) {query}", time.perf_counter() - start)

    def timed_commit(self: Any) -> Any:
        idle = self.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        start = time.perf_counter()
        try:
            return commit(self)
        finally:
            if not idle:  # the pool's own commit on an idle connection sends nothing
                log.add("COMMIT", time.perf_counter() - start)

    def timed_rollback(self: Any) -> Any:
        start = time.perf_counter()
        try:
            return rollback(self)
        finally:
            log.add("ROLLBACK", time.perf_counter() - start)

    connection.execute, connection.commit = timed_execute, timed_commit
    connection.rollback, cursor.executemany = timed_rollback, timed_executemany
    try:
        yield
    finally:
        connection.execute, connection.commit, connection.rollback = originals[:3]
        cursor.executemany = originals[3]


def statements_of_one_payment(engine: Engine, population: Population, payments: int) -> str:
    """In-process payments (one thread) with psycopg timed; the last one's statements."""
    payer, payee = population.handles[0], population.handles[1]
    client = SignedClient(InProcessTransport(engine), population.keys[payer])
    log = StatementLog()
    with psycopg_timed(log):
        log.enabled = True
        for _ in range(payments):
            log.next_payment()
            client.pay(
                payment_id=str(uuid.uuid4()), recipient=f"@{payee}", amount_minor=1, currency="DBL"
            )
        log.next_payment()
    return log.table()


def open_engine(db: str, root: Path, cluster_dsn: str | None) -> tuple[Engine, SigningKey]:
    engine_key, admin_key = SigningKey.generate(), SigningKey.generate()
    if db == "sqlite":
        path = root / "server.db"
        initialize_local(path, "admin", admin_key, engine_key)
        return open_local_engine(path, receipt_key=lambda: engine_key), admin_key
    assert cluster_dsn is not None
    url: DbUrl = parse_db_url(cluster_dsn)
    initialize_at(url, "admin", admin_key, engine_key)
    return open_engine_at(url, receipt_key=lambda: engine_key), admin_key


def profile(db: str, clients: int, seconds: float, top: int, root: Path, dsn: str | None) -> None:
    base, admin_key = open_engine(db, root, dsn)
    times = StageTimes()
    engine = TimedEngine(base, times)
    try:
        population = Population.create(engine, admin_key, max(clients, 2))
        if db == "postgres":
            print("SQL of one in-process payment (after 50 warm-up payments):")
            print(statements_of_one_payment(engine, population, 50))
            print()
        server = start_server(engine, "127.0.0.1:0")
        try:
            target = f"127.0.0.1:{server.port}"
            plain = measure(payment_callers(target, population), clients, 1.0, seconds, times)
        finally:
            server.stop(grace_s=1.0)
        print(
            f"{db}, {clients} client thread(s), unprofiled: {plain.rate:,.0f} payments/s, "
            f"CPU {plain.cpu_us_per_call:,.0f} µs/payment ({plain.cores:.2f} cores)"
        )
        print(f"  server stages: {plain.stages.describe(STAGES)}\n")
        profiles = ThreadProfiles()
        with profiles.installed():  # before the server starts, so its threads are profiled
            server = start_server(engine, "127.0.0.1:0")
            try:
                target = f"127.0.0.1:{server.port}"
                profiled = measure(payment_callers(target, population), clients, 0.5, seconds)
            finally:
                server.stop(grace_s=1.0)
        print(
            f"cProfile of every thread ({profiled.rate:,.0f} payments/s under the "
            f"profiler, {profiled.calls} payments in the window; thread CPU seconds, "
            "warm-up included):"
        )
        print(profiles.report(top))
    finally:
        engine.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_grpc")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=30, help="cProfile rows to print")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cpay-bench-profile-grpc-") as tmp:
        if args.db == "sqlite":
            profile("sqlite", args.clients, args.seconds, args.top, Path(tmp), None)
            return 0
        from devtools.pgcluster import start_cluster

        cluster = start_cluster(durable=True)
        try:
            dsn = cluster.create_database("cpay")
            profile("postgres", args.clients, args.seconds, args.top, Path(tmp), dsn)
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
