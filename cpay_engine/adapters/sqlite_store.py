"""SqliteStore: the embedded ledger store (local mode, and the server's SQLite option).

WAL, synchronous=FULL, BEGIN IMMEDIATE for every unit of work, a busy timeout, and
versioned migrations tracked in PRAGMA user_version. One connection per thread.
Balance moves are conditional updates, so a user account can never go negative
even if a check above were wrong; the CHECK constraint is the last line.

Group commit (`write`): SQLite has one writer and each COMMIT waits for an fsync of
the WAL, so when several threads of this process write at once (the gRPC server's
workers), the one holding the write lock runs every queued caller's work in one
transaction, each in its own SAVEPOINT (a caller whose work raises loses only its own
writes), commits once, and then hands each caller its result. No caller hears of its
result before the COMMIT that makes it durable; if that COMMIT fails, every caller in
the batch gets the error and nothing of the batch is written. A lone writer runs
exactly as before: BEGIN IMMEDIATE, its work, COMMIT, no savepoint.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from cpay_engine.adapters.migrations import latest_version
from cpay_engine.adapters.migrations import load as load_migrations
from cpay_engine.adapters.sql_filters import prefix_range
from cpay_engine.adapters.sql_uow import LedgerEntry, SqlUnitOfWork
from cpay_engine.errors import (
    CPayError,
    FailedPrecondition,
    InternalError,
    NotFound,
    Unavailable,
)

BUSY_TIMEOUT_MS = 30_000
# A batch stops growing here, so one leader does not run an unbounded queue while the
# writers behind it wait for the fsync.
MAX_BATCH = 64

T = TypeVar("T")


class _Write(Generic[T]):
    """One caller's work in the group-commit queue, and what became of it."""

    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[SqlUnitOfWork], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


def migrations() -> list[tuple[int, str, str]]:
    return load_migrations("sqlite")


SCHEMA_VERSION = latest_version("sqlite")


class SqliteStore:
    """`create`: a missing or empty file becomes a new wallet. bootstrap.open_store asks
    for that only for init (`cpay init`, `cpay server init`); otherwise the file must
    already be a CPay database: a deleted, emptied or foreign file is refused, not
    silently replaced by an empty wallet (nor converted to WAL). Older CPay schemas are
    migrated either way."""

    def __init__(self, path: Path, *, migrate: bool = True, create: bool = True) -> None:
        if not create:
            _check_is_a_wallet(path)
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._queue: list[_Write[Any]] = []
        self._queue_lock = threading.Lock()
        # Group-commit counters (read by the benchmarks): transactions, and writes in them.
        self.commits = 0
        self.writes = 0
        self._connections: list[sqlite3.Connection] = []
        self._check_schema(migrate)

    # --- connections -------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise Unavailable(
                f"cannot open the wallet database {self.path}: {exc}{_damaged_hint(exc)}"
            ) from None
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _check_schema(self, migrate: bool) -> None:
        conn = self._connect()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise FailedPrecondition(
                f"{self.path} has schema version {version}, newer than this cpay "
                f"({SCHEMA_VERSION}): upgrade cpay"
            )
        if version == SCHEMA_VERSION:
            return
        if not migrate:
            raise FailedPrecondition(
                f"{self.path} has schema version {version}; run the migrations "
                f"(this cpay needs {SCHEMA_VERSION})"
            )
        self.migrate()

    def migrate(self) -> int:
        """Apply pending migrations, each in its own IMMEDIATE transaction. Returns the version."""
        conn = self._connect()
        for version, name, sql in migrations():
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                if current >= version:
                    conn.execute("ROLLBACK")
                    continue
                for statement in _split_sql(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {version}")
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise InternalError(f"migration {name} failed: {exc}") from None
        version_now: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version_now

    @contextlib.contextmanager
    def reader(self) -> Iterator[SqlUnitOfWork]:
        """Reads in autocommit: each statement sees a consistent snapshot by itself (the
        engine's reads here are single statements); never takes the write lock."""
        conn = self._connect()
        try:
            yield SqlUnitOfWork(SqliteDialect(conn))
        except sqlite3.Error as exc:
            raise translate(exc) from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[SqlUnitOfWork]:
        """A read transaction: in WAL mode its first read fixes the state every later read
        sees, and it neither waits for the writer nor holds it up."""
        conn = self._connect()
        try:
            conn.execute("BEGIN DEFERRED")
            try:
                yield SqlUnitOfWork(SqliteDialect(conn))
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise translate(exc) from None

    def write(self, work: Callable[[SqlUnitOfWork], T]) -> T:
        # SQLite has one writer. Threads of this process queue on a lock (first come, first
        # served) instead of spinning in SQLite's sleep-and-retry busy handler; other
        # processes still meet the busy timeout.
        item = _Write(work)
        if not self._queue and self._write_lock.acquire(blocking=False):
            # Nobody queued and the lock free: a batch of one, without the queue. (A
            # caller that queues meanwhile waits for the lock, as it would behind a batch.)
            try:
                self._run_batch([item])
            finally:
                self._write_lock.release()
        else:
            with self._queue_lock:
                self._queue.append(item)
        while not item.done:
            with self._write_lock:
                # Whoever held the lock before may have run this item in its batch.
                if not item.done:
                    with self._queue_lock:
                        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                    self._run_batch(batch)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]  # set when error is None

    def _run_batch(self, batch: list[_Write[Any]]) -> None:
        """With the write lock held: run `batch` in one transaction and mark every item done."""
        conn = self._connect()
        try:
            self._run_batch_on(conn, batch)
        except BaseException as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, Exception) or len(batch) == 1:
                # A lone caller's error, or BEGIN/COMMIT failed: nothing was written.
                error = translate(exc) if isinstance(exc, sqlite3.Error) else exc
                for item in batch:
                    item.error = error
            else:  # interrupted (KeyboardInterrupt in the leader): the leader re-raises
                for item in batch:
                    item.error = Unavailable("the write was interrupted; nothing was written")
                raise
        finally:
            for item in batch:
                item.done = True

    def _run_batch_on(self, conn: sqlite3.Connection, batch: list[_Write[Any]]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"the wallet database is busy or locked ({exc}); try again") from None
        uow = SqlUnitOfWork(SqliteDialect(conn))
        if len(batch) == 1:
            batch[0].result = batch[0].work(uow)
        else:
            for item in batch:
                conn.execute("SAVEPOINT write")
                try:
                    item.result = item.work(uow)
                except Exception as exc:  # this caller's error: undo its writes only
                    conn.execute("ROLLBACK TO write")
                    item.error = translate(exc) if isinstance(exc, sqlite3.Error) else exc
                conn.execute("RELEASE write")
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise InternalError(f"could not commit to the wallet database: {exc}") from None
        self.commits += 1
        self.writes += len(batch)


NO_WALLET_HINT = (
    "restore it from a backup, or start a new wallet under another profile "
    "(`cpay --profile NAME init`; for a server, `cpay server init --db URL`)"
)


def _check_is_a_wallet(path: Path) -> None:
    """Refuse a file that is not an existing CPay database, reading it only (read-only
    URI connection: nothing is created or converted)."""
    if not path.exists():
        raise NotFound(f"no wallet database at {path}: {NO_WALLET_HINT}")
    try:
        probe = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            version: int = probe.execute("PRAGMA user_version").fetchone()[0]
        finally:
            probe.close()
    except sqlite3.Error as exc:
        raise Unavailable(
            f"cannot open the wallet database {path}: {exc}{_damaged_hint(exc)}"
        ) from None
    if version == 0:
        raise FailedPrecondition(
            f"{path} is not a CPay wallet database (it is empty or another program's): "
            f"{NO_WALLET_HINT}"
        )


def _damaged_hint(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return " (the file is damaged or not a CPay wallet: restore it from a backup)"
    return ""


def _split_sql(sql: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    statements: list[str] = []
    buf: list[str] = []
    for line in sql.splitlines():
        if line.strip().startswith("--") and not buf:
            continue
        buf.append(line)
        text = "\n".join(buf).strip()
        if sqlite3.complete_statement(text):
            statements.append(text)
            buf = []
    return statements


_NO_PIPELINE: contextlib.nullcontext[None] = contextlib.nullcontext()  # reusable, stateless


class SqliteDialect:
    """sqlite3 under SqlUnitOfWork. BEGIN IMMEDIATE already serializes writers, so the
    lock hooks have nothing to do."""

    integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        # execute(sql, args=()): the connection's own method, with no Python call around
        # each of a payment's dozen statements.
        self.execute: Callable[..., sqlite3.Cursor] = conn.execute

    def move(self, debit_id: int, credit_id: int, amount_minor: int) -> bool:
        # The write lock (BEGIN IMMEDIATE) already excludes every other writer.
        cur = self._conn.execute(
            "UPDATE accounts SET balance_minor = balance_minor - ? "
            "WHERE id = ? AND (may_go_negative OR balance_minor >= ?)",
            (amount_minor, debit_id, amount_minor),
        )
        if cur.rowcount != 1:
            return False
        self._conn.execute(
            "UPDATE accounts SET balance_minor = balance_minor + ? WHERE id = ?",
            (amount_minor, credit_id),
        )
        return True

    def pipeline(self) -> contextlib.nullcontext[None]:
        return _NO_PIPELINE

    def lock_ledger_sequence(self) -> None:
        return None

    def lock_name(self, name: str) -> None:  # noqa: ARG002
        return None

    def starts_with(self, column: str, prefix: str) -> tuple[str, tuple[Any, ...]]:
        # SQLite compares TEXT bytewise (BINARY), so a prefix is an index range.
        return f"{column} >= ? AND {column} < ?", prefix_range(prefix)

    def record_entry(self, entry: LedgerEntry) -> None:
        """No one-statement path in SQLite (no data-modifying CTEs), and none needed: the
        statements are calls into this process, not round trips."""


def translate(exc: sqlite3.Error) -> CPayError:
    """The one place sqlite3 errors become CPayError."""
    if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
        return Unavailable(f"the wallet database stayed locked ({exc}); try again")
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
        return FailedPrecondition(
            "the wallet database is read-only (its file, its directory or the mount): CPay "
            "records every request it verifies (replay protection), reads included, so it "
            "needs to write there; fix the permissions or mount it read-write"
        )
    if isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc):
        return FailedPrecondition(
            f"the disk holding the wallet database is full ({exc}): nothing was written; "
            "free some space and try again"
        )
    return InternalError(f"wallet database error: {exc}")
