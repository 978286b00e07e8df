"""PostgresStore: the server's production store (psycopg 3 + a connection pool).

READ COMMITTED, with every balance move taking its account rows FOR UPDATE in id
order and then a conditional debit, so no update is lost and no user balance goes
negative under any number of concurrent requests and server processes. Assigning a
transaction's seq and appending to the audit chain happen under one transaction-
scoped advisory lock, so seq order is commit order (the clients' sync cursor relies
on it) and the audit hash chain never forks. Serialization failures and deadlocks
surface as TransientStoreError, which the engine retries. Everything shared lives in
the database: nonces, idempotency records, the audit head.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from cpay_engine.adapters.migrations import latest_version
from cpay_engine.adapters.migrations import load as load_migrations
from cpay_engine.adapters.sql_filters import like_prefix
from cpay_engine.adapters.sql_uow import TX_INSERT_COLUMNS, LedgerEntry, SqlUnitOfWork
from cpay_engine.errors import CPayError, FailedPrecondition, InternalError, Unavailable
from cpay_engine.service.ports import TransientStoreError, UnitOfWork

T = TypeVar("T")

# Arbitrary constants naming our advisory locks.
LEDGER_LOCK = 0x43504159_01  # "CPAY" 1: transaction seq + audit chain
MIGRATION_LOCK = 0x43504159_02


# What cpay_audit_append hashes exactly as domain.audit does (JSON escapes only " and \).
_PRINTABLE = re.compile(r"\A[ -~]*\Z")


# A balance move (PostgresDialect.move; tests/postgres checks its plan).
MOVE_SQL = (
    "WITH locked AS (SELECT id FROM accounts WHERE id = ANY(%(ids)s) ORDER BY id FOR UPDATE), "
    "debit AS (UPDATE accounts SET balance_minor = balance_minor - %(amount)s "
    "WHERE id = %(debit)s AND (may_go_negative OR balance_minor >= %(amount)s) "
    "AND EXISTS (SELECT 1 FROM locked) RETURNING id) "
    "UPDATE accounts SET balance_minor = balance_minor + %(amount)s "
    "WHERE id = %(credit)s AND EXISTS (SELECT 1 FROM debit) RETURNING id"
)


def migrations() -> list[tuple[int, str, str]]:
    return load_migrations("postgres")


SCHEMA_VERSION = latest_version("postgres")


@functools.lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    """`?` placeholders to psycopg's `%s` (our SQL has no literal `%` or `?`)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PostgresDialect:
    integrity_errors: tuple[type[BaseException], ...] = (pg_errors.IntegrityError,)

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._sequence_locked = False

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self._conn.execute(_pg(sql), args)

    def move(self, debit_id: int, credit_id: int, amount_minor: int) -> bool:
        # One statement: the row locks in id order (two opposite transfers cannot
        # deadlock), then the conditional debit and, only if it happened, the credit.
        # Each step is an uncorrelated EXISTS on the one before, which PostgreSQL runs
        # once, before its own scan (a one-time filter): `locked` locks both rows before
        # `debit` touches one. The debit's balance check sees the latest committed balance
        # (an UPDATE re-checks a row that changed while it waited for it). One command
        # instead of two in a pipeline: 6-28% more payments/s in paired windows.
        row = self._conn.execute(
            MOVE_SQL,
            {
                "ids": sorted({debit_id, credit_id}),
                "amount": amount_minor,
                "debit": debit_id,
                "credit": credit_id,
            },
        ).fetchone()
        return row is not None

    def pipeline(self) -> contextlib.AbstractContextManager[psycopg.Pipeline]:
        return self._conn.pipeline()

    def lock_name(self, name: str) -> None:
        # Two-key form (class, hashtext) keeps these apart from the single-key ledger locks.
        self._conn.execute("SELECT pg_advisory_xact_lock(1, hashtext(%s))", (name,))

    def lock_ledger_sequence(self) -> None:
        if not self._sequence_locked:
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (LEDGER_LOCK,))
            self._sequence_locked = True

    def starts_with(self, column: str, prefix: str) -> tuple[str, tuple[Any, ...]]:
        # LIKE, not a range: a range is only right under the C collation, which the
        # cluster may not use (where it does, the index answers LIKE 'prefix%' too).
        return f"{column} LIKE ?", (like_prefix(prefix),)

    def record_entry(self, entry: LedgerEntry) -> int | None:
        # Every other payment waits from the ledger lock to COMMIT, so the lock, the rows
        # and the audit append (cpay_audit_append, the same hash as domain.audit for
        # printable ASCII) are one statement, one command: 9-14% more payments/s at 16
        # clients than the same three statements in a pipeline (psycopg's CPU per command
        # is what a PostgreSQL server spends most on). The transaction row is inserted
        # from the lock's row, so its seq is drawn only once the lock is held; the audit
        # function is VOLATILE, so it reads the audit head with a snapshot taken after the
        # lock was granted (the statement's own snapshot is older).
        tx, postings, parties, audit = entry
        if not all(_PRINTABLE.match(s) for s in (audit.actor, audit.action, audit.details)):
            return None
        values = ", ".join(["%s"] * len(tx))
        ctes = [
            "l AS (SELECT pg_advisory_xact_lock(%s))",
            f"t AS (INSERT INTO transactions ({TX_INSERT_COLUMNS}) SELECT {values} FROM l "
            "RETURNING seq)",
        ]
        args: list[Any] = [LEDGER_LOCK, *tx]
        if postings:
            rows = ", ".join(["(%s::smallint, %s::bigint, %s::bigint, %s::text)"] * len(postings))
            ctes.append(
                "p AS (INSERT INTO postings (seq, idx, account_id, amount_minor, currency) "
                f"SELECT t.seq, v.idx, v.account_id, v.amount_minor, v.currency FROM t, "
                f"(VALUES {rows}) AS v (idx, account_id, amount_minor, currency))"
            )
            for idx, posting in enumerate(postings):
                args.extend((idx, *posting))
        if parties:
            rows = ", ".join(["(%s::text, %s::text)"] * len(parties))
            ctes.append(
                "x AS (INSERT INTO tx_parties (user_id, seq, direction) "
                f"SELECT v.user_id, t.seq, v.direction FROM t, (VALUES {rows}) "
                "AS v (user_id, direction) ON CONFLICT DO NOTHING)"
            )
            for party in parties:
                args.extend(party)
        ctes.append("a AS (SELECT cpay_audit_append(%s, %s, %s, %s) FROM t)")
        args.extend((audit.at_ms, audit.actor, audit.action, audit.details))
        row = self._conn.execute(f"WITH {', '.join(ctes)} SELECT t.seq FROM t, a", args).fetchone()
        self._sequence_locked = True
        assert row is not None
        return int(row[0])


def _split(sql: str) -> list[str]:
    """Statements of a migration; $$-quoted function bodies stay whole."""
    statements: list[str] = []
    buf: list[str] = []
    in_body = False
    for line in sql.splitlines():
        if line.strip().startswith("--") and not buf:
            continue
        buf.append(line)
        if line.count("$$") % 2 == 1:
            in_body = not in_body
        if not in_body and line.rstrip().endswith(";"):
            statements.append("\n".join(buf).strip())
            buf = []
    if "".join(buf).strip():
        statements.append("\n".join(buf).strip())
    return statements


def translate(exc: psycopg.Error) -> CPayError:
    """The one place psycopg errors become CPayError."""
    if isinstance(exc, psycopg.OperationalError):
        return Unavailable(f"the database is unreachable ({exc}); try again")
    return InternalError(f"database error: {exc}")


NO_CONNECTION = "the database is unreachable or busy (no connection in time); try again"
POOL_WAIT_S = 3.0


def _read_failed(conn: psycopg.Connection[Any], exc: psycopg.Error) -> Exception:
    """A read on a connection the server dropped is tried again on another (the engine
    retries TransientStoreError); anything else is translated."""
    if conn.broken:
        return TransientStoreError(f"database connection lost: {exc}")
    return translate(exc)


def _check_is_cpays(conn: psycopg.Connection[Any]) -> None:
    """Migrate only an empty database or one CPay's migrations made: another program's
    tables (a `users`, a `schema_version` of its own) would fail half-way, or worse."""
    tables = {
        str(row[0])
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    conn.commit()
    if not tables:
        return
    ours = "schema_version" in tables and {
        str(row[0])
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'schema_version'"
        )
    } >= {"version", "name"}
    conn.commit()
    if not ours:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise FailedPrecondition(
            f"the database already holds tables that are not CPay's ({shown}): give CPay a "
            "database of its own (createdb cpay), or an empty one"
        )


def _rollback(conn: psycopg.Connection[Any]) -> None:
    """Roll back what can be: on a connection the server dropped (a restart, a failover)
    there is nothing left to roll back, and the pool discards it when it comes back."""
    with contextlib.suppress(psycopg.Error):
        conn.rollback()


def _transactional(conn: psycopg.Connection[Any]) -> None:
    """The pool's reset: every connection goes back with autocommit off, so a unit of work
    that takes it next is one transaction (a reader turns autocommit on). Should this
    fail, the pool discards the connection instead of lending it out."""
    conn.autocommit = False


class PostgresStore:
    def __init__(
        self, dsn: str, *, min_size: int = 1, max_size: int = 16, migrate: bool = False
    ) -> None:
        self.dsn = dsn
        # One plain connection first: a refused, unauthorized or missing database fails
        # here at once with libpq's own words, not after the pool's 30 s of retries (each
        # logged as a warning).
        try:
            psycopg.connect(dsn, connect_timeout=10).close()
        except psycopg.Error as exc:
            reason = " ".join(str(exc).split())
            raise Unavailable(
                f"cannot connect to PostgreSQL ({reason}): check that it is running and the "
                "--db URL (host, port, user, database; the password comes from ~/.pgpass or "
                "PGPASSWORD)"
            ) from None
        self._pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            open=False,
            # Under the clients' 10 s deadline: with the database down, a request answers
            # "unreachable, nothing done" instead of leaving the client to time out.
            timeout=POOL_WAIT_S,
            reset=_transactional,
        )
        try:
            self._pool.open(wait=True, timeout=30)
        except (PoolTimeout, psycopg.Error) as exc:
            self._pool.close()
            raise Unavailable(f"cannot connect to PostgreSQL ({exc})") from None
        try:
            if migrate:
                self.migrate()
            self._check_schema()
        except BaseException:  # refused (wrong schema version) or failed: no pool left open
            self._pool.close()
            raise

    def close(self) -> None:
        self._pool.close()

    def schema_version(self) -> int:
        with self._pool.connection() as conn:
            exists = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
            if not exists or not exists[0]:
                return 0
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            return int(row[0] or 0) if row else 0

    def _check_schema(self) -> None:
        version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise FailedPrecondition(
                f"the database has schema version {version}, newer than this cpay "
                f"({SCHEMA_VERSION}): upgrade cpay"
            )
        if version < SCHEMA_VERSION:
            raise FailedPrecondition(
                f"the database has schema version {version}; this cpay needs {SCHEMA_VERSION}: "
                f"run `cpay server migrate --db URL`"
            )

    def migrate(self) -> int:
        """Apply pending migrations under an advisory lock (several servers may start)."""
        with self._pool.connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            conn.commit()
            try:
                _check_is_cpays(conn)
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ "
                    "NOT NULL DEFAULT now())"
                )
                conn.commit()
                row = conn.execute(
                    "SELECT coalesce(max(version), 0) FROM schema_version"
                ).fetchone()
                current = int(row[0]) if row else 0
                for version, name, sql in migrations():
                    if version <= current:
                        continue
                    try:
                        for statement in _split(sql):
                            conn.execute(statement.encode())
                        conn.execute(
                            "INSERT INTO schema_version (version, name) VALUES (%s, %s)",
                            (version, name),
                        )
                        conn.commit()
                    except psycopg.Error as exc:
                        conn.rollback()
                        raise InternalError(f"migration {name} failed: {exc}") from None
                    current = version
            finally:
                # After a failed statement the transaction is aborted: end it first, or
                # the unlock fails too and hides what went wrong (the lock also ends with
                # the session).
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
                    conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
                    conn.commit()
        return current

    @contextlib.contextmanager
    def reader(self) -> Iterator[SqlUnitOfWork]:
        """Reads in autocommit: under READ COMMITTED each statement has its own snapshot
        either way, and with no transaction open there is no ROLLBACK round trip after
        (every request's key lookup comes through here). The pool turns autocommit off
        again when the connection comes back (`_transactional`)."""
        with self._lent() as conn:
            try:
                conn.autocommit = True
                yield SqlUnitOfWork(PostgresDialect(conn))
            except psycopg.Error as exc:
                raise _read_failed(conn, exc) from None

    @contextlib.contextmanager
    def _lent(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise Unavailable(NO_CONNECTION) from None

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[SqlUnitOfWork]:
        """A read-only REPEATABLE READ transaction: one snapshot for every statement."""
        with self._lent() as conn:
            try:
                conn.autocommit = True
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                try:
                    yield SqlUnitOfWork(PostgresDialect(conn))
                finally:
                    with contextlib.suppress(psycopg.Error):  # gone with a dropped connection
                        conn.execute("ROLLBACK")
            except psycopg.Error as exc:
                raise _read_failed(conn, exc) from None

    def write(self, work: Callable[[UnitOfWork], T]) -> T:
        """One transaction per call: PostgreSQL runs concurrent writers side by side and
        already merges their WAL flushes (its own group commit)."""
        with self._transaction() as uow:
            return work(uow)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[SqlUnitOfWork]:
        with self._lent() as conn:
            committing = False
            try:
                yield SqlUnitOfWork(PostgresDialect(conn))
                committing = True
                conn.commit()
            except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected) as exc:
                _rollback(conn)
                raise TransientStoreError(str(exc)) from None
            except psycopg.Error as exc:
                _rollback(conn)
                if conn.broken and not committing:  # nothing was applied: try another
                    raise TransientStoreError(f"database connection lost: {exc}") from None
                raise translate(exc) from None
            except BaseException:
                _rollback(conn)
                raise
