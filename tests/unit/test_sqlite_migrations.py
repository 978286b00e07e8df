"""SQLite schema migrations carry a wallet's data forward.

Version 3 moved each receipt's signature from the receipts table into its transaction's
row (and version 4 dropped the index on created_at_ms). A wallet is written, turned back
into the version 2 layout (receipts table with the exact signed payloads, no receipt
columns, the index), and opened again: the migrations must put every signature back on
its own transaction, and the ledger must verify.
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest

from cpay_engine.adapters import migrations
from cpay_engine.adapters.sqlite_store import SCHEMA_VERSION
from cpay_engine.bootstrap import open_local_engine
from cpay_engine.client import InProcessTransport, SignedClient, receipt_verifies
from cpay_engine.errors import InsufficientFunds
from tests.support import Wallet

V2_RECEIPTS = """
CREATE TABLE receipts (
    seq       INTEGER PRIMARY KEY REFERENCES transactions (seq),
    key_id    TEXT NOT NULL,
    payload   BLOB NOT NULL,
    signature BLOB NOT NULL
);
CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are immutable'); END;
CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
BEGIN SELECT RAISE(ABORT, 'receipts are immutable'); END;
"""


# The invites table as migration 2 made it (before migration 5 added for_user_id).
V2_INVITES = next(sql for version, _, sql in migrations.load("sqlite") if version == 2)


def back_to_version_2(path: Path, payloads: dict[int, bytes]) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.executescript(V2_RECEIPTS)
        for seq, key_id, signature in db.execute(
            "SELECT seq, receipt_key_id, receipt_signature FROM transactions "
            "WHERE receipt_signature IS NOT NULL"
        ).fetchall():
            db.execute(
                "INSERT INTO receipts (seq, key_id, payload, signature) VALUES (?, ?, ?, ?)",
                (seq, key_id, payloads[seq], signature),
            )
        db.execute("DROP TRIGGER transactions_receipt_immutable")
        db.execute("DROP TRIGGER transactions_no_delete")
        db.execute("ALTER TABLE transactions DROP COLUMN receipt_key_id")
        db.execute("ALTER TABLE transactions DROP COLUMN receipt_signature")
        db.execute("CREATE INDEX transactions_created_at ON transactions (created_at_ms)")
        # version 5's column; SQLite drops no column that is a foreign key: the table goes
        db.execute("DROP TABLE invites")
        db.executescript(V2_INVITES)
        db.execute("PRAGMA user_version = 2")


def test_versions_3_and_4_move_every_receipt_onto_its_transaction(tmp_path: Path) -> None:
    wallet = Wallet.create(tmp_path / "wallet.db")
    wallet.add_user("bob")
    wallet.mint("alice", 10_000)
    for amount in (100, 250):
        wallet.client("alice").pay(
            payment_id=str(uuid.uuid4()), recipient="@bob", amount_minor=amount, currency="DBL"
        )
    with pytest.raises(InsufficientFunds):  # recorded as failed, with no receipt
        wallet.client("alice").pay(
            payment_id=str(uuid.uuid4()), recipient="@bob", amount_minor=20_000, currency="DBL"
        )
    before = wallet.client("alice").history(include_details=True).transactions
    payloads = {t.seq: t.receipt.payload for t in before if t.receipt is not None}
    assert len(payloads) == 3  # the mint and two payments
    wallet.close()

    back_to_version_2(wallet.path, payloads)
    engine = open_local_engine(wallet.path, receipt_key=lambda: wallet.engine_key)
    alice = SignedClient(InProcessTransport(engine), wallet.admin_key)
    try:
        after = alice.history(include_details=True).transactions
        assert after == before
        engine_keys = alice.account().engine_keys
        assert all(receipt_verifies(t, engine_keys) for t in after if t.receipt is not None)
        assert alice.verify_ledger().problems == ()
    finally:
        engine.close()
    with closing(sqlite3.connect(wallet.path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "receipts" not in tables
    with closing(sqlite3.connect(wallet.path)) as db:
        indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "transactions_created_at" not in indexes


def test_a_read_only_wallet_database_is_named_not_an_internal_error(tmp_path: Path) -> None:
    """Every signed request records its nonce, reads included: a wallet on a read-only
    file or mount cannot even be read, and said only SQLite's words."""
    from cpay_engine.adapters.sqlite_store import translate
    from cpay_engine.errors import FailedPrecondition

    path = tmp_path / "wallet.db"
    Wallet.create(path).close()
    with (
        closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db,
        pytest.raises(sqlite3.OperationalError) as caught,
    ):
        db.execute("INSERT INTO meta (key, value) VALUES ('x', 'y')")
    error = translate(caught.value)
    assert isinstance(error, FailedPrecondition)
    assert "read-only" in error.message
