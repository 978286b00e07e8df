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

Each side runs on a fresh file per repetition; the two alternate so drift in the disk or
the machine hits both; the figure is the median of the repetitions.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench.core import Benchmark, Figure, RunConfig, Target, median, safe_ratio
from bench.wallet import CURRENCY, BenchWallet
from cpay_engine.domain.model import TxStatus

NAME = "local_payments"
PAYMENTS = 2000
QUICK_PAYMENTS = 40
REPETITIONS = 3
QUICK_REPETITIONS = 1
AMOUNT_MINOR = 1
TARGET = Target("ratio", ">=", 0.4)

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


def engine_rate(
    path: Path, count: int, instrument: Callable[[BenchWallet], None] | None = None
) -> float:
    """Payments per second through SignedClient -> InProcessTransport -> Engine -> SQLite.

    `instrument` runs after the set-up, before the clock starts (bench.profile_payments).
    """
    wallet = BenchWallet.create(path)
    try:
        wallet.add_user("bob")
        wallet.mint("alice", count * AMOUNT_MINOR)
        if instrument is not None:
            instrument(wallet)
        client = wallet.client("alice")
        ids = payment_ids(count)
        start = time.perf_counter()
        for payment_id in ids:
            result = client.pay(
                payment_id=payment_id,
                recipient="@bob",
                amount_minor=AMOUNT_MINOR,
                currency=CURRENCY,
            )
            if result.transaction.status is not TxStatus.COMPLETED:
                raise RuntimeError(f"payment {payment_id} did not complete: {result}")
        elapsed = time.perf_counter() - start
        moved = wallet.balance("bob")
        if moved != count * AMOUNT_MINOR:
            raise RuntimeError(f"@bob holds {moved} minor units after {count} payments")
    finally:
        wallet.close()
    return count / elapsed


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


def raw_rate(
    path: Path,
    count: int,
    wrap: Callable[[sqlite3.Connection], sqlite3.Connection] = _same,
) -> float:
    """Payments per second doing only a payment's rows with raw sqlite3.

    `wrap` lets bench.profile_payments time each statement; the benchmark leaves it be.
    """
    conn = wrap(open_raw(path))
    try:
        conn.execute("BEGIN IMMEDIATE")  # not executescript: it would COMMIT first
        for statement in RAW_SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT INTO accounts (id, name, currency, balance_minor) VALUES (1, ?, ?, ?), "
            "(2, ?, ?, 0)",
            ("user:alice:DBL", CURRENCY, count * AMOUNT_MINOR, "user:bob:DBL", CURRENCY),
        )
        conn.execute("COMMIT")
        ids = payment_ids(count)
        start = time.perf_counter()
        for payment_id in ids:
            conn.execute("BEGIN IMMEDIATE")
            debit = conn.execute(
                "UPDATE accounts SET balance_minor = balance_minor - ? "
                "WHERE id = ? AND (may_go_negative = 1 OR balance_minor >= ?)",
                (AMOUNT_MINOR, 1, AMOUNT_MINOR),
            )
            if debit.rowcount != 1:
                conn.execute("ROLLBACK")
                raise RuntimeError(f"raw payment {payment_id}: insufficient funds")
            conn.execute(
                "UPDATE accounts SET balance_minor = balance_minor + ? WHERE id = ?",
                (AMOUNT_MINOR, 2),
            )
            tx = conn.execute(
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
            )
            seq = tx.lastrowid
            conn.execute(
                "INSERT INTO postings (seq, account_id, amount_minor, currency) VALUES (?, ?, ?, ?)",
                (seq, 1, -AMOUNT_MINOR, CURRENCY),
            )
            conn.execute(
                "INSERT INTO postings (seq, account_id, amount_minor, currency) VALUES (?, ?, ?, ?)",
                (seq, 2, AMOUNT_MINOR, CURRENCY),
            )
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
        moved = conn.execute("SELECT balance_minor FROM accounts WHERE id = 2").fetchone()[0]
        if moved != count * AMOUNT_MINOR:
            raise RuntimeError(f"raw: account 2 holds {moved} after {count} payments")
    finally:
        conn.close()
    return count / elapsed


def run(config: RunConfig) -> list[Figure]:
    count = QUICK_PAYMENTS if config.quick else PAYMENTS
    repetitions = QUICK_REPETITIONS if config.quick else REPETITIONS
    engine_samples: list[float] = []
    raw_samples: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cpay-bench-") as tmp:
        for rep in range(repetitions):
            raw_samples.append(raw_rate(Path(tmp) / f"raw-{rep}.db", count))
            config.log(f"  raw sqlite3   rep {rep + 1}: {raw_samples[-1]:8.0f} payments/s")
            engine_samples.append(engine_rate(Path(tmp) / f"engine-{rep}.db", count))
            config.log(f"  cpay engine   rep {rep + 1}: {engine_samples[-1]:8.0f} payments/s")
    measured, baseline = median(engine_samples), median(raw_samples)
    return [
        Figure(
            benchmark=NAME,
            label=f"signed payments/s, local engine on SQLite ({count} payments, 1 thread)",
            unit="payments/s",
            measured=measured,
            baseline=baseline,
            baseline_label="raw sqlite3, same rows and pragmas",
            ratio=safe_ratio(measured, baseline),
            ratio_label="engine / raw",
            target=TARGET,
            samples=tuple(engine_samples),
            baseline_samples=tuple(raw_samples),
        )
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
        "`BEGIN IMMEDIATE`/`COMMIT`. Fresh database file per repetition; median of "
        f"{REPETITIONS} repetitions, engine and raw alternating. Ratio = engine / raw "
        "(higher is better)."
    ),
    run=run,
)
