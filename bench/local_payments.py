"""local_payments: signed payments per second through the full local engine on SQLite.

Engine: a wallet built as `cpay init` builds one, @alice minted enough Dabloons, then
one thread sends N payments @alice -> @bob with a `SignedClient` over an
`InProcessTransport`: each request is serialized, signed, verified, run through the
whole pipeline and committed in its own BEGIN IMMEDIATE transaction (WAL,
synchronous=FULL, as SqliteStore sets them).

Baseline, same process, same temp directory: raw sqlite3 on a fresh file with the same
pragmas, doing per payment the rows a payment is made of, in its own
BEGIN IMMEDIATE/COMMIT: a conditional debit UPDATE, a credit UPDATE, one transaction row
INSERT and two posting INSERTs.

Each repetition sets up both sides on fresh files and times them in alternating blocks of
payments, so drift in the disk or the machine hits both; the figure is the median of the
repetitions.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bench.core import CONTEXT, Benchmark, Figure, RunConfig, Target, median, safe_ratio
from bench.wallet import CURRENCY, BenchWallet
from cpay_engine.adapters.sqlite_store import SqliteStore
from cpay_engine.domain.model import TxStatus

NAME = "local_payments"
PAYMENTS = 2000
QUICK_PAYMENTS = 40
REPETITIONS = 5
QUICK_REPETITIONS = 1
BLOCK = 100  # payments per timed block; engine and raw blocks alternate
QUICK_BLOCK = 20
AMOUNT_MINOR = 1
TARGET = Target("ratio", ">=", 0.4)

POSTING_INSERT = (
    "INSERT INTO postings (seq, account_id, amount_minor, currency) VALUES (?, ?, ?, ?)"
)

RAW_SCHEMA = """
CREATE TABLE accounts (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    currency        TEXT NOT NULL,
    may_go_negative INTEGER NOT NULL DEFAULT 0,
    balance_minor   INTEGER NOT NULL DEFAULT 0,
    CHECK (may_go_negative = 1 OR balance_minor >= 0)
);
CREATE TABLE transactions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    from_handle   TEXT NOT NULL,
    to_handle     TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    currency      TEXT NOT NULL
);
CREATE TABLE postings (
    id           INTEGER PRIMARY KEY,
    seq          INTEGER NOT NULL REFERENCES transactions (seq),
    account_id   INTEGER NOT NULL REFERENCES accounts (id),
    amount_minor INTEGER NOT NULL CHECK (amount_minor <> 0),
    currency     TEXT NOT NULL
);
CREATE INDEX postings_seq ON postings (seq);
CREATE INDEX postings_account ON postings (account_id, seq);
"""


def payment_ids(count: int) -> list[str]:
    """Chosen before the clock starts, as a client chooses an id before the first attempt."""
    return [str(uuid.uuid4()) for _ in range(count)]


class Side(Protocol):
    """One side of the comparison: set up on a fresh file, then pays in timed blocks."""

    def pay(self, ids: Sequence[str]) -> None: ...

    def without_fsync(self) -> None: ...

    def check(self, paid: int) -> None: ...

    def close(self) -> None: ...


class EngineSide:
    """SignedClient -> InProcessTransport -> Engine -> SqliteStore, one commit per payment."""

    def __init__(
        self, path: Path, count: int, instrument: Callable[[BenchWallet], None] | None = None
    ) -> None:
        self.wallet = BenchWallet.create(path)
        try:
            self.wallet.add_user("bob")
            self.wallet.mint("alice", count * AMOUNT_MINOR)
            if instrument is not None:
                instrument(self.wallet)
            self.client = self.wallet.client("alice")
        except BaseException:
            self.wallet.close()
            raise

    def pay(self, ids: Sequence[str]) -> None:
        pay = self.client.pay
        for payment_id in ids:
            result = pay(
                payment_id=payment_id,
                recipient="@bob",
                amount_minor=AMOUNT_MINOR,
                currency=CURRENCY,
            )
            if result.transaction.status is not TxStatus.COMPLETED:
                raise RuntimeError(f"payment {payment_id} did not complete: {result}")

    def without_fsync(self) -> None:
        """synchronous=OFF on the store's connection (this thread's): the context figure."""
        store = self.wallet.engine.store
        if not isinstance(store, SqliteStore):
            raise TypeError(f"expected the SQLite store, got {type(store).__name__}")
        store._connect().execute("PRAGMA synchronous = OFF")

    def check(self, paid: int) -> None:
        moved = self.wallet.balance("bob")
        if moved != paid * AMOUNT_MINOR:
            raise RuntimeError(f"engine: @bob holds {moved} minor units after {paid} payments")

    def close(self) -> None:
        self.wallet.close()


def open_raw(path: Path) -> sqlite3.Connection:
    """A connection with the pragmas SqliteStore sets."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def _same(conn: sqlite3.Connection) -> sqlite3.Connection:
    return conn


class RawSide:
    """Only a payment's rows, raw sqlite3, one BEGIN IMMEDIATE/COMMIT per payment.

    `wrap` lets bench.profile_payments time each statement; the benchmark leaves it be.
    """

    def __init__(
        self,
        path: Path,
        count: int,
        wrap: Callable[[sqlite3.Connection], sqlite3.Connection] = _same,
    ) -> None:
        self.conn = wrap(open_raw(path))
        try:
            self.conn.execute("BEGIN IMMEDIATE")  # not executescript: it would COMMIT first
            for statement in RAW_SCHEMA.split(";"):
                if statement.strip():
                    self.conn.execute(statement)
            self.conn.execute(
                "INSERT INTO accounts (id, name, currency, balance_minor) VALUES (1, ?, ?, ?), "
                "(2, ?, ?, 0)",
                ("user:alice:DBL", CURRENCY, count * AMOUNT_MINOR, "user:bob:DBL", CURRENCY),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.close()
            raise

    def pay(self, ids: Sequence[str]) -> None:
        execute = self.conn.execute
        for payment_id in ids:
            execute("BEGIN IMMEDIATE")
            debit = execute(
                "UPDATE accounts SET balance_minor = balance_minor - ? "
                "WHERE id = ? AND (may_go_negative = 1 OR balance_minor >= ?)",
                (AMOUNT_MINOR, 1, AMOUNT_MINOR),
            )
            if debit.rowcount != 1:
                execute("ROLLBACK")
                raise RuntimeError(f"raw payment {payment_id}: insufficient funds")
            execute(
                "UPDATE accounts SET balance_minor = balance_minor + ? WHERE id = ?",
                (AMOUNT_MINOR, 2),
            )
            seq = execute(
                "INSERT INTO transactions (id, kind, status, created_at_ms, from_handle, "
                "to_handle, amount_minor, currency) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    payment_id,
                    "payment",
                    "completed",
                    time.time_ns() // 1_000_000,
                    "alice",
                    "bob",
                    AMOUNT_MINOR,
                    CURRENCY,
                ),
            ).lastrowid
            execute(
                POSTING_INSERT,
                (seq, 1, -AMOUNT_MINOR, CURRENCY),
            )
            execute(
                POSTING_INSERT,
                (seq, 2, AMOUNT_MINOR, CURRENCY),
            )
            execute("COMMIT")

    def without_fsync(self) -> None:
        self.conn.execute("PRAGMA synchronous = OFF")

    def check(self, paid: int) -> None:
        moved = self.conn.execute("SELECT balance_minor FROM accounts WHERE id = 2").fetchone()[0]
        if moved != paid * AMOUNT_MINOR:
            raise RuntimeError(f"raw: account 2 holds {moved} after {paid} payments")

    def close(self) -> None:
        self.conn.close()


@dataclass
class Tally:
    """Wall and CPU (this process) seconds spent paying, and how many payments."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    paid: int = 0

    @property
    def rate(self) -> float:
        return self.paid / self.wall_s

    def us_per_payment(self, seconds: float) -> float:
        return seconds / self.paid * 1e6


def timed(side: Side, block: Sequence[str], tally: Tally) -> None:
    cpu, wall = time.process_time(), time.perf_counter()
    side.pay(block)
    tally.wall_s += time.perf_counter() - wall
    tally.cpu_s += time.process_time() - cpu
    tally.paid += len(block)


def side_rate(side: Side, count: int) -> float:
    """Payments per second of one side alone (used by bench.profile_payments)."""
    tally = Tally()
    try:
        timed(side, payment_ids(count), tally)
        side.check(count)
    finally:
        side.close()
    return tally.rate


def engine_rate(
    path: Path, count: int, instrument: Callable[[BenchWallet], None] | None = None
) -> float:
    return side_rate(EngineSide(path, count, instrument), count)


def raw_rate(
    path: Path, count: int, wrap: Callable[[sqlite3.Connection], sqlite3.Connection] = _same
) -> float:
    return side_rate(RawSide(path, count, wrap), count)


def repetition(
    directory: Path, count: int, block_size: int, *, fsync: bool = True
) -> tuple[Tally, Tally]:
    """(engine, raw) tallies, each side on a fresh file, timed in alternating blocks.

    Blocks alternate (engine first, then raw first, ...) so both sides meet the same
    disk and machine conditions: fsync latency on a shared disk drifts within seconds.
    Without `fsync`, both sides run with synchronous=OFF: the disk leaves the loop.
    """
    engine_tally, raw_tally = Tally(), Tally()
    engine: Side = EngineSide(directory / "engine.db", count)
    try:
        raw: Side = RawSide(directory / "raw.db", count)
        try:
            if not fsync:
                engine.without_fsync()
                raw.without_fsync()
            ids = payment_ids(count)
            for i, start in enumerate(range(0, count, block_size)):
                block = ids[start : start + block_size]
                if i % 2 == 0:
                    timed(engine, block, engine_tally)
                    timed(raw, block, raw_tally)
                else:
                    timed(raw, block, raw_tally)
                    timed(engine, block, engine_tally)
            engine.check(count)
            raw.check(count)
        finally:
            raw.close()
    finally:
        engine.close()
    return engine_tally, raw_tally


def paired_ratios(engine: Sequence[Tally], raw: Sequence[Tally]) -> list[float]:
    """Engine / raw per repetition: each pair met the same disk, so the figure's ratio is
    the median of these, not the ratio of the two sides' medians, which may come from
    different repetitions (a fast-disk raw over a slow-disk engine, or the reverse)."""
    return [e.rate / r.rate for e, r in zip(engine, raw, strict=True)]


def run(config: RunConfig) -> list[Figure]:
    count = QUICK_PAYMENTS if config.quick else PAYMENTS
    repetitions = QUICK_REPETITIONS if config.quick else REPETITIONS
    block_size = QUICK_BLOCK if config.quick else BLOCK
    engine: list[Tally] = []
    raw: list[Tally] = []
    with tempfile.TemporaryDirectory(prefix="cpay-bench-") as tmp:
        for rep in range(repetitions):
            directory = Path(tmp) / f"rep-{rep}"
            directory.mkdir()
            e, r = repetition(directory, count, block_size)
            engine.append(e)
            raw.append(r)
            config.log(
                f"  rep {rep + 1}: engine {e.rate:6.0f} payments/s "
                f"(CPU {e.us_per_payment(e.cpu_s):5.0f} µs/payment), raw sqlite3 {r.rate:6.0f} "
                f"payments/s (CPU {r.us_per_payment(r.cpu_s):4.0f} µs/payment), "
                f"ratio {e.rate / r.rate:.2f}"
            )
        directory = Path(tmp) / "no-fsync"
        directory.mkdir()
        engine_off, raw_off = repetition(directory, count, block_size, fsync=False)
    measured, baseline = median([t.rate for t in engine]), median([t.rate for t in raw])
    ratios = paired_ratios(engine, raw)

    def per_payment(tallies: list[Tally]) -> str:
        wall = median([t.us_per_payment(t.wall_s) for t in tallies])
        cpu = median([t.us_per_payment(t.cpu_s) for t in tallies])
        return f"{wall:,.0f} µs wall, {cpu:,.0f} µs CPU in this process"

    return [
        Figure(
            benchmark=NAME,
            label=f"signed payments/s, local engine on SQLite ({count} payments, 1 thread)",
            unit="payments/s",
            measured=measured,
            baseline=baseline,
            baseline_label="raw sqlite3, same rows and pragmas",
            ratio=median(ratios),
            ratio_label="engine / raw, median of the paired repetitions",
            target=TARGET,
            samples=tuple(t.rate for t in engine),
            baseline_samples=tuple(t.rate for t in raw),
            notes=(
                "Ratio per repetition (paired, same disk conditions): "
                + ", ".join(f"{ratio:.2f}" for ratio in ratios)
                + f". Per payment (medians): engine {per_payment(engine)}; raw sqlite3 "
                f"{per_payment(raw)}. Wall minus CPU is mostly waiting for fsync at COMMIT."
            ),
        ),
        Figure(
            benchmark=NAME,
            label=f"the same with synchronous=OFF, no fsync ({count} payments, 1 thread)",
            unit="payments/s",
            measured=engine_off.rate,
            baseline=raw_off.rate,
            baseline_label="raw sqlite3, synchronous=OFF",
            ratio=safe_ratio(engine_off.rate, raw_off.rate),
            ratio_label="engine / raw",
            target=CONTEXT,
            samples=(engine_off.rate,),
            baseline_samples=(raw_off.rate,),
            notes=(
                "One repetition, paired blocks as above, the disk out of the loop: the "
                "CPU each side spends on a payment. Per payment: engine "
                f"{per_payment([engine_off])}; raw sqlite3 {per_payment([raw_off])}. "
                "Against the fsync figure's CPU medians above: the same work costs more CPU "
                "after each wait for fsync, when the thread resumes on a cold CPU, and more "
                "so for the engine, whose work is the larger."
            ),
        ),
    ]


BENCHMARK = Benchmark(
    name=NAME,
    title="Signed payments through the local engine on SQLite",
    method=(
        f"{PAYMENTS} payments of {AMOUNT_MINOR} minor unit @alice → @bob after one mint, one "
        "thread, through `SignedClient` → `InProcessTransport` → `Engine` → `SqliteStore`: "
        "every request is serialized, signed with Ed25519, verified (envelope, freshness, "
        "key, signature, role), recorded (nonce, transaction, parties, postings, receipt "
        "signed by the engine key, audit entry) and committed in its own `BEGIN IMMEDIATE` "
        "transaction with WAL and `synchronous=FULL`. Baseline in the same process and temp "
        "directory: raw `sqlite3` with the same pragmas doing per payment a conditional debit "
        "UPDATE, a credit UPDATE, a transaction row INSERT and two posting INSERTs in its own "
        "`BEGIN IMMEDIATE`/`COMMIT`. Each repetition sets up both on fresh files, then times "
        f"them in alternating blocks of {BLOCK} payments (engine first, then raw first, ...) so "
        "both meet the same disk: fsync latency on a shared disk drifts within seconds. "
        f"{REPETITIONS} repetitions; measured and baseline are each side's median rate, and "
        "the ratio is the median of the repetitions' own engine / raw ratios (higher is "
        "better). "
        "Context: one more repetition with `synchronous=OFF` on both sides, so the disk "
        "leaves the loop and what remains is each side's CPU."
    ),
    run=run,
)
