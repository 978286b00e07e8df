"""Where a local payment spends its time: `python -m bench.profile_payments [-n N]`.

Not a benchmark (nothing is written to docs/benchmarks.md): a diagnostic for the
local_payments figure. It runs the same loop as local_payments three ways:

0. counting the WAL pages each payment writes (and fsyncs at COMMIT), by table and index;
1. timing every SQL statement the engine sends (a proxy around the store's connection),
   next to the same for the raw sqlite3 baseline;
2. under cProfile, printing the functions with the most own time;
3. plain, for the rate without instrumentation.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import re
import sqlite3
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from bench.local_payments import (
    EngineSide,
    RawSide,
    Side,
    engine_rate,
    payment_ids,
    raw_rate,
)
from bench.wallet import BenchWallet
from cpay_engine.adapters.sqlite_store import SqliteStore


class StatementTimes:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.enabled = True

    def add(self, sql: str, seconds: float) -> None:
        if self.enabled:
            key = statement_key(sql)
            self.seconds[key] += seconds
            self.calls[key] += 1

    def table(self, payments: int, title: str) -> str:
        total = sum(self.seconds.values())
        lines = [
            f"{title}: {total / payments * 1e6:,.0f} µs of SQL per payment",
            f"  {'µs/pay':>8} {'calls/pay':>9} {'share':>6}  statement",
        ]
        for key, seconds in sorted(self.seconds.items(), key=lambda kv: -kv[1]):
            lines.append(
                f"  {seconds / payments * 1e6:8.1f} {self.calls[key] / payments:9.2f} "
                f"{seconds / total:6.1%}  {key}"
            )
        return "\n".join(lines)


def statement_key(sql: str) -> str:
    text = re.sub(r"\s+", " ", sql).strip()
    text = re.sub(r"\b(SAVEPOINT|RELEASE|ROLLBACK TO) sp\d+", r"\1 spN", text)
    return text if len(text) <= 90 else text[:87] + "..."


class TimingConnection:
    """Forwards to a sqlite3.Connection, timing execute/executemany by statement."""

    def __init__(self, conn: sqlite3.Connection, times: StatementTimes) -> None:
        self._conn = conn
        self._times = times

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        start = time.perf_counter()
        try:
            return self._conn.execute(sql, parameters)
        finally:
            self._times.add(sql, time.perf_counter() - start)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        start = time.perf_counter()
        try:
            return self._conn.executemany(sql, parameters)
        finally:
            self._times.add(sql, time.perf_counter() - start)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def time_engine_statements(path: Path, payments: int) -> tuple[float, StatementTimes]:
    times = StatementTimes()

    def instrument(wallet: BenchWallet) -> None:
        store = wallet.engine.store
        if not isinstance(store, SqliteStore):
            raise TypeError(f"expected the SQLite store, got {type(store).__name__}")
        # The store keeps one connection per thread in a threading.local; swap in the proxy.
        store._local.conn = TimingConnection(store._connect(), times)

    rate = engine_rate(path, payments, instrument)
    times.enabled = False
    return rate, times


def time_raw_statements(path: Path, payments: int) -> tuple[float, StatementTimes]:
    times = StatementTimes()

    def wrap(conn: sqlite3.Connection) -> sqlite3.Connection:
        return cast(sqlite3.Connection, TimingConnection(conn, times))

    rate = raw_rate(path, payments, wrap)
    return rate, times


def wal_frames_per_payment(root: Path, payments: int) -> tuple[Counter[str], Counter[str]]:
    """(engine, raw) WAL frames (pages) written per payment by B-tree, checkpoints held off.

    Every frame is written and fsynced at COMMIT, and checkpoints come once per
    wal_autocheckpoint (1000) frames, so this is the I/O each payment costs. Each frame's
    header names its page; SQLite's dbstat table names the table or index that owns it
    (page 1, "sqlite_schema", is rewritten whenever the file grows).
    """

    def frames(path: Path, conn: sqlite3.Connection, side: Side) -> Counter[str]:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        side.pay(payment_ids(payments))
        wal = Path(f"{path}-wal").read_bytes()
        page_size = int.from_bytes(wal[8:12], "big")
        pages = Counter(
            int.from_bytes(wal[offset : offset + 4], "big")
            for offset in range(32, len(wal) - 23, page_size + 24)
        )
        with contextlib.closing(sqlite3.connect(path)) as reader:
            owner = dict(reader.execute("SELECT pageno, name FROM dbstat"))
        side.close()
        by_tree: Counter[str] = Counter()
        for page, count in pages.items():
            by_tree[owner.get(page, "(freed since)")] += count
        return by_tree

    engine = EngineSide(root / "wal-engine.db", payments)
    store = engine.wallet.engine.store
    if not isinstance(store, SqliteStore):
        raise TypeError(f"expected the SQLite store, got {type(store).__name__}")
    engine_frames = frames(root / "wal-engine.db", store._connect(), engine)
    raw = RawSide(root / "wal-raw.db", payments)
    raw_frames = frames(root / "wal-raw.db", raw.conn, raw)
    return engine_frames, raw_frames


def frames_table(frames: Counter[str], payments: int, title: str) -> str:
    total = sum(frames.values())
    lines = [f"{title}: {total / payments:.2f} WAL frames per payment"]
    for name, count in frames.most_common():
        lines.append(f"  {count / payments:6.2f}  {name}")
    return "\n".join(lines)


def profile_engine(path: Path, payments: int, top: int) -> tuple[float, str]:
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        rate = engine_rate(path, payments)
    finally:
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return rate, out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_payments")
    parser.add_argument("-n", "--payments", type=int, default=1000)
    parser.add_argument("--top", type=int, default=25, help="cProfile rows to print")
    args = parser.parse_args(argv)
    n: int = args.payments
    with tempfile.TemporaryDirectory(prefix="cpay-bench-profile-") as tmp:
        root = Path(tmp)
        plain = engine_rate(root / "plain.db", n)
        raw = raw_rate(root / "raw-plain.db", n)
        print(f"uninstrumented: engine {plain:,.0f} payments/s, raw {raw:,.0f} payments/s")
        print(f"  = {1e6 / plain:,.0f} µs vs {1e6 / raw:,.0f} µs per payment")
        wal_payments = min(n, 500)
        engine_frames, raw_frames = wal_frames_per_payment(root, wal_payments)
        print(frames_table(engine_frames, wal_payments, "engine"))
        print(frames_table(raw_frames, wal_payments, "raw sqlite3") + "\n")
        engine_timed, engine_times = time_engine_statements(root / "timed.db", n)
        raw_timed, raw_times = time_raw_statements(root / "raw-timed.db", n)
        print(engine_times.table(n, f"engine ({engine_timed:,.0f} payments/s with the proxy)"))
        print()
        print(raw_times.table(n, f"raw sqlite3 ({raw_timed:,.0f} payments/s with the proxy)"))
        print()
        profiled, report = profile_engine(root / "profiled.db", n, args.top)
        print(f"cProfile of the engine loop ({profiled:,.0f} payments/s under the profiler):")
        print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
