"""PostgresStore: schema, migrations, and the ledger rules on a real PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from cpay_engine.adapters.postgres_store import MOVE_SQL, SCHEMA_VERSION, PostgresStore
from cpay_engine.bootstrap import DbUrl, open_engine_at, parse_db_url
from cpay_engine.client import InProcessTransport, SignedClient, receipt_verifies
from cpay_engine.domain.audit import GENESIS, entry_hash
from cpay_engine.domain.model import Direction, TxKind, TxStatus
from cpay_engine.errors import FailedPrecondition, InsufficientFunds, InvalidInput, Unavailable
from cpay_engine.service.ports import AuditEntry, NewTransaction, UnitOfWork
from tests.support import Wallet


def test_the_original_traditional_currency_table_exists_with_its_columns(pg_dsn: str) -> None:
    PostgresStore(pg_dsn, migrate=True).close()
    with psycopg.connect(pg_dsn) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'traditional_currency_transactions' ORDER BY ordinal_position"
        ).fetchall()
    columns: dict[str, str] = dict(rows)
    assert list(columns) == [
        "id",
        "user_id",
        "transaction_type",
        "amount",
        "currency",
        "external_reference",
        "status",
        "description",
        "created_at",
        "updated_at",
    ]
    assert columns["id"] == "uuid"
    assert columns["user_id"] == "uuid"
    assert columns["amount"] == "numeric"


def test_a_store_refuses_an_unmigrated_database_and_says_how_to_fix_it(pg_dsn: str) -> None:
    with pytest.raises(FailedPrecondition) as caught:
        PostgresStore(pg_dsn)
    assert "cpay server migrate" in caught.value.message


def test_a_database_it_cannot_reach_is_unavailable_at_once_in_libpqs_words(
    pg_dsn: str,
) -> None:
    missing = psycopg.conninfo.make_conninfo(pg_dsn, dbname="no_such_database")

    with pytest.raises(Unavailable) as caught:
        PostgresStore(missing)

    assert 'database "no_such_database" does not exist' in caught.value.message
    assert "check that it is running and the --db URL" in caught.value.message


def test_migrating_twice_is_harmless_and_records_the_version(pg_dsn: str) -> None:
    store = PostgresStore(pg_dsn, migrate=True)
    assert store.migrate() == SCHEMA_VERSION
    assert store.schema_version() == SCHEMA_VERSION
    store.close()


def test_concurrent_migrations_from_several_servers_apply_once(pg_dsn: str) -> None:
    errors: list[BaseException] = []

    def migrate() -> None:
        try:
            PostgresStore(pg_dsn, migrate=True).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with psycopg.connect(pg_dsn) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_postings_receipts_and_audit_entries_cannot_be_changed(pg_dsn: str) -> None:
    wallet = Wallet.create_at(parse_db_url(pg_dsn))
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    wallet.close()
    with psycopg.connect(pg_dsn) as conn:
        for statement in (
            "UPDATE postings SET amount_minor = 1",
            "DELETE FROM postings",
            "UPDATE transactions SET receipt_signature = '\\x00'",
            "DELETE FROM transactions",
            "DELETE FROM audit_log",
        ):
            with pytest.raises(psycopg.errors.RaiseException):
                conn.execute(statement)
            conn.rollback()


def test_users_are_kept_and_verify_reports_a_transaction_naming_an_unknown_user(
    pg_dsn: str,
) -> None:
    """Version 6 drops the foreign keys from transactions to users (each took a row lock
    on every payment); what they guarded stays guarded."""
    wallet = Wallet.create_at(parse_db_url(pg_dsn))
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    assert wallet.client("alice").verify_ledger().ok
    with psycopg.connect(pg_dsn) as conn:
        foreign_keys = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'transactions'::regclass "
            "AND contype = 'f' AND confrelid = 'users'::regclass"
        ).fetchone()
        assert foreign_keys == (0,)
        for statement in ("DELETE FROM users", "UPDATE users SET id = id || 'x'"):
            with pytest.raises(psycopg.errors.RaiseException, match="users are never deleted"):
                conn.execute(statement)
            conn.rollback()
        conn.execute("UPDATE users SET role = role")  # other columns: not the trigger's
        conn.execute(
            "INSERT INTO transactions (id, kind, status, created_at_ms, initiator_id, "
            "from_user_id, to_user_id, from_handle, to_handle, amount_minor, currency) "
            "SELECT 'forged', 'payment', 'failed', 1, id, id, 'nobody', handle, 'nobody', 5, "
            "'DBL' FROM users WHERE handle = 'alice'"
        )
    report = wallet.client("alice").verify_ledger()
    assert report.problems == ("transaction forged names a user who does not exist",)
    wallet.close()


def test_opposite_transfers_under_contention_neither_deadlock_nor_lose_money(pg_dsn: str) -> None:
    wallet = Wallet.create_at(parse_db_url(pg_dsn))
    wallet.add_user("bob")
    wallet.mint("alice", 10_000)
    wallet.mint("bob", 10_000)
    failures: list[BaseException] = []

    def transfer(payer: str, payee: str) -> None:
        client = wallet.client(payer)
        for _ in range(40):
            try:
                client.pay(
                    payment_id=str(uuid.uuid4()), recipient=payee, amount_minor=7, currency="DBL"
                )
            except InsufficientFunds:
                pass
            except BaseException as exc:  # collected for the assertion below
                failures.append(exc)

    threads = [
        threading.Thread(target=transfer, args=pair)
        for pair in [("alice", "bob"), ("bob", "alice")] * 3
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    alice = wallet.client("alice").balances()[0].available_minor
    bob = wallet.client("bob").balances()[0].available_minor
    assert alice + bob == 20_000
    assert alice == bob == 10_000  # each direction moved the same 3*40*7
    assert wallet.client("alice").verify_ledger().ok
    wallet.close()


def test_a_move_locks_both_rows_in_id_order_before_it_changes_either(pg_dsn: str) -> None:
    """MOVE_SQL is one statement whose steps are ordered by PostgreSQL's plan, not by the
    order of the WITH list: each runs as a one-time filter of the next, so the rows are
    locked (sorted by id) before the debit, and the debit happens before the credit."""
    wallet = Wallet.create_at(parse_db_url(pg_dsn))
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    wallet.close()
    with psycopg.connect(pg_dsn) as conn:
        plan = [
            row[0].strip()
            for row in conn.execute(
                "EXPLAIN (VERBOSE, COSTS OFF) " + MOVE_SQL,
                {"ids": [1, 2], "amount": 5, "debit": 2, "credit": 1},
            )
        ]
    text = "\n".join(plan)
    locked, debit = plan.index("CTE locked"), plan.index("CTE debit")
    assert plan[locked + 1 : locked + 3] == [
        "->  LockRows",
        "Output: accounts_1.id, accounts_1.ctid",
    ]
    assert "Sort Key: accounts_1.id" in plan[locked:debit]
    assert plan.count("One-Time Filter: $2") == 1, text  # locked, before the debit's scan
    assert plan.count("One-Time Filter: $5") == 1, text  # debit, before the credit's scan
    assert plan.index("One-Time Filter: $2") > debit


def test_a_database_url_with_a_password_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_db_url("postgresql://cpay:hunter2@db.example/cpay")
    assert "pgpass" in caught.value.message
    assert parse_db_url("postgresql://cpay@db.example/cpay") == DbUrl(
        "postgresql", dsn="postgresql://cpay@db.example/cpay"
    )


# --- the audit append inside PostgreSQL (one round trip per ledger entry) -----------------

AUDIT_DETAILS = [
    "",
    '{"amount_minor":1,"currency":"DBL","from":"alice","id":"p-1","to":"bob"}',
    'quotes " and back\\slashes \\" and \\\\ and {"nested":"\\"json\\""}',
    "every printable: " + "".join(chr(c) for c in range(0x20, 0x7F)),
]


def test_the_database_hashes_audit_entries_exactly_as_the_engine_does(pg_dsn: str) -> None:
    PostgresStore(pg_dsn, migrate=True).close()
    with psycopg.connect(pg_dsn) as conn:
        prev = GENESIS
        for n, details in enumerate(AUDIT_DETAILS):
            at_ms, actor, action = 1_764_000_000_000 + n, f"user_{n}", "payment.completed"
            row = conn.execute(
                "SELECT cpay_audit_append(%s, %s, %s, %s)", (at_ms, actor, action, details)
            ).fetchone()
            assert row is not None
            assert row[0] == entry_hash(prev, at_ms, actor, action, details)
            prev = row[0]
        stored = conn.execute("SELECT prev_hash, hash FROM audit_log ORDER BY seq").fetchall()
    assert stored[-1][1] == prev
    assert [p for p, _ in stored] == [GENESIS] + [h for _, h in stored[:-1]]  # one chain


def test_the_database_refuses_to_hash_what_it_would_encode_differently(pg_dsn: str) -> None:
    PostgresStore(pg_dsn, migrate=True).close()
    with psycopg.connect(pg_dsn) as conn:
        for details in ("café", "line\nbreak", "tab\there"):
            with pytest.raises(psycopg.errors.RaiseException, match="printable ASCII"):
                conn.execute("SELECT cpay_audit_append(%s, %s, %s, %s)", (1, "alice", "x", details))
            conn.rollback()


def test_an_audit_entry_outside_printable_ascii_is_appended_by_the_engine(pg_dsn: str) -> None:
    """The store falls back to appending in Python; the chain still verifies."""
    wallet = Wallet.create_at(parse_db_url(pg_dsn))
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    store = wallet.engine.store
    with store.reader() as reader:
        alice = reader.get_user_by_handle("alice")
    assert alice is not None
    tx = NewTransaction(
        id=str(uuid.uuid4()),
        kind=TxKind.PAYMENT,
        status=TxStatus.FAILED,
        created_at_ms=1_764_000_000_000,
        initiator_id=alice.id,
        from_user_id=alice.id,
        to_user_id=alice.id,
        from_handle="alice",
        to_handle="alice",
        amount_minor=1,
        currency="DBL",
        memo="",
        failure_code="test",
        failure_message="a note in the audit log: café\n",
    )
    audit = AuditEntry(tx.created_at_ms, "alice", "payment.failed", '{"note":"café\n"}')

    store.write(
        lambda uow: uow.record_transaction(tx, [], None, [(alice.id, Direction.OUT)], audit)
    )

    report = wallet.client("alice").verify_ledger()
    wallet.close()
    assert report.ok, report.problems
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT details FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    assert row == ('{"note":"café\n"}',)


def test_a_write_after_a_read_on_the_same_connection_is_still_atomic(pg_dsn: str) -> None:
    """Readers run in autocommit; the pooled connection they hand back must not carry
    that into the next unit of work, whose writes commit all together or not at all."""
    store = PostgresStore(pg_dsn, min_size=1, max_size=1, migrate=True)
    try:
        with store.reader() as reader:
            assert reader.user_count() == 0

        def half_done(uow: UnitOfWork) -> None:
            assert uow.record_nonce("k-test", b"n" * 16, 10**15, 0)
            raise InvalidInput("refused after the first write")

        with pytest.raises(InvalidInput):
            store.write(half_done)
    finally:
        store.close()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM nonces").fetchone() == (0,)


def test_versions_4_to_6_move_every_receipt_onto_its_transaction(pg_dsn: str) -> None:
    """A wallet turned back into the version 3 layout (a receipts table holding the signed
    payloads, the index on created_at_ms, foreign keys from transactions to users) and
    migrated again: every signature lands on its own transaction."""
    wallet = Wallet.create_at(parse_db_url(pg_dsn))
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    wallet.client("alice").pay(
        payment_id=str(uuid.uuid4()), recipient="bob", amount_minor=300, currency="DBL"
    )
    before = wallet.client("alice").history(include_details=True).transactions
    wallet.close()
    with psycopg.connect(pg_dsn) as conn:
        conn.execute(
            "CREATE TABLE receipts (seq BIGINT PRIMARY KEY REFERENCES transactions (seq), "
            "key_id TEXT NOT NULL, payload BYTEA NOT NULL, signature BYTEA NOT NULL)"
        )
        for t in before:
            assert t.receipt is not None
            conn.execute(
                "INSERT INTO receipts SELECT seq, receipt_key_id, %s, receipt_signature "
                "FROM transactions WHERE seq = %s",
                (t.receipt.payload, t.seq),
            )
        conn.execute("DROP TRIGGER transactions_receipt_immutable ON transactions")
        conn.execute("DROP TRIGGER transactions_immutable_rows ON transactions")
        conn.execute("DROP FUNCTION cpay_receipt_immutable()")
        conn.execute(
            "ALTER TABLE transactions DROP COLUMN receipt_key_id, DROP COLUMN receipt_signature"
        )
        conn.execute("CREATE INDEX transactions_created_at ON transactions (created_at_ms)")
        conn.execute("DROP TRIGGER users_keep_ids ON users")
        conn.execute("DROP FUNCTION cpay_users_keep_ids()")
        for column in ("initiator_id", "from_user_id", "to_user_id"):
            conn.execute(
                f"ALTER TABLE transactions ADD CONSTRAINT transactions_{column}_fkey "
                f"FOREIGN KEY ({column}) REFERENCES users (id)"
            )
        conn.execute("ALTER TABLE invites DROP COLUMN for_user_id")  # version 7
        conn.execute("DELETE FROM schema_version WHERE version >= 4")

    with pytest.raises(FailedPrecondition, match="cpay server migrate"):
        PostgresStore(pg_dsn)
    PostgresStore(pg_dsn, migrate=True).close()
    engine = open_engine_at(parse_db_url(pg_dsn), receipt_key=lambda: wallet.engine_key)
    alice = SignedClient(InProcessTransport(engine), wallet.admin_key)
    try:
        after = alice.history(include_details=True).transactions
        assert after == before
        engine_keys = alice.account().engine_keys
        assert all(receipt_verifies(t, engine_keys) for t in after)
        assert alice.verify_ledger().problems == ()
    finally:
        engine.close()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('receipts')").fetchone() == (None,)
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (
            SCHEMA_VERSION,
        )


def test_connections_the_database_dropped_are_replaced_without_an_error(pg_dsn: str) -> None:
    """A PostgreSQL restart or failover kills every pooled connection. The next requests
    (reads and payments) get fresh ones: no "internal error", nothing lost or doubled."""
    wallet = Wallet.create_at(parse_db_url(pg_dsn))
    try:
        wallet.add_user("bob")
        wallet.mint("alice", 10_000)
        alice = wallet.client("alice")
        for n in range(4):  # the pool now holds connections that have served requests
            alice.pay(payment_id=f"pay-before-{n}", recipient="bob", amount_minor=1, currency="DBL")
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None
        assert killed[0] >= 1

        balances = alice.balances("DBL")
        results = [
            alice.pay(payment_id=f"pay-after-{n}", recipient="bob", amount_minor=1, currency="DBL")
            for n in range(6)
        ]
        report = alice.verify_ledger()
    finally:
        wallet.close()

    assert balances[0].available_minor == 10_000 - 4
    assert [r.transaction.status for r in results] == [TxStatus.COMPLETED] * 6
    assert (report.ok, report.transactions_checked) == (True, 1 + 4 + 6)


@pytest.mark.parametrize(
    "foreign",
    [
        pytest.param("CREATE TABLE users (id serial PRIMARY KEY, email text)", id="users"),
        pytest.param(
            "CREATE TABLE schema_version (v text); INSERT INTO schema_version VALUES ('abc')",
            id="schema-version",
        ),
    ],
)
def test_migrating_another_programs_database_is_refused_and_changes_nothing(
    pg_dsn: str, foreign: str
) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for statement in foreign.split(";"):
            conn.execute(statement.encode())

    with pytest.raises(FailedPrecondition, match="tables that are not CPay's"):
        PostgresStore(pg_dsn, migrate=True)

    with psycopg.connect(pg_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert tables == (1,)  # only the other program's table
