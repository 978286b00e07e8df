"""PostgresStore: schema, migrations, and the ledger rules on a real PostgreSQL."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from cpay_engine.adapters.postgres_store import SCHEMA_VERSION, PostgresStore
from cpay_engine.bootstrap import DbUrl, parse_db_url
from cpay_engine.errors import FailedPrecondition, InsufficientFunds, InvalidInput
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
            "UPDATE receipts SET signature = '\\x00'",
            "DELETE FROM audit_log",
        ):
            with pytest.raises(psycopg.errors.RaiseException):
                conn.execute(statement)
            conn.rollback()


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


def test_a_database_url_with_a_password_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_db_url("postgresql://cpay:hunter2@db.example/cpay")
    assert "pgpass" in caught.value.message
    assert parse_db_url("postgresql://cpay@db.example/cpay") == DbUrl(
        "postgresql", dsn="postgresql://cpay@db.example/cpay"
    )
