"""The remote client's history cache file: a damaged one is kept aside, never fatal.

The cache only mirrors the server's history (it refills at the next sync), so a file
that SQLite cannot read must not stop `cpay balance` or `cpay history` with an internal
error; it is renamed, not deleted, and the user is told where it went.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from cpay_cli.cache import CachingEngine, HistoryCache
from cpay_engine.api import TransactionView
from cpay_engine.domain.model import Direction, TxKind, TxStatus
from tests.support import Wallet

ROW = TransactionView(
    id="pay-cache-01",
    seq=7,
    kind=TxKind.PAYMENT,
    status=TxStatus.COMPLETED,
    created_at_ms=1_790_000_000_000,
    from_handle="alice",
    to_handle="bob",
    amount_minor=1_250,
    currency="DBL",
    memo="lunch",
    direction=Direction.OUT,
    counterparty="@bob",
)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(b"garbage, not SQLite\n", id="not-a-database"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 84, id="broken-header"),
    ],
)
def test_a_damaged_cache_file_is_kept_aside_and_a_new_cache_works(
    tmp_path: Path, damage: bytes
) -> None:
    path = tmp_path / "cache" / "alice.db"
    path.parent.mkdir()
    path.write_bytes(damage)
    warnings: list[str] = []

    cache = HistoryCache(path, warn=warnings.append)
    cache.upsert([ROW])
    found = cache.get("pay-cache-01")
    cache.close()

    [kept] = [p for p in path.parent.iterdir() if p.name.startswith("alice.db.damaged-")]
    assert kept.read_bytes() == damage
    assert found == ROW
    [warning] = warnings
    assert str(path) in warning
    assert str(kept) in warning
    assert "refills from the server" in warning


def test_an_intact_cache_file_is_reopened_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "alice.db"
    first = HistoryCache(path)
    first.upsert([ROW])
    first.close()
    warnings: list[str] = []

    again = HistoryCache(path, warn=warnings.append)
    found = again.get("pay-cache-01")
    again.close()

    assert found == ROW
    assert warnings == []
    assert sorted(p.name for p in tmp_path.iterdir() if "damaged" in p.name) == []


def test_processes_opening_and_writing_one_new_cache_at_once_wait_for_each_other(
    tmp_path: Path,
) -> None:
    """Several `cpay` commands of one profile at once (a script paying in parallel): each
    has its own connection; a busy file is waited for, never called damaged or an error."""
    path = tmp_path / "cache" / "alice.db"
    openers = 12
    start = threading.Barrier(openers)
    warnings: list[str] = []
    errors: list[BaseException] = []

    def open_and_write(n: int) -> None:
        start.wait()
        try:
            cache = HistoryCache(path, warn=warnings.append)
            cache.upsert([dataclasses.replace(ROW, id=f"pay-cache-{n:02d}", seq=n)])
            cache.close()
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=open_and_write, args=(n,)) for n in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert warnings == []
    assert [p.name for p in path.parent.iterdir() if ".damaged-" in p.name] == []
    cache = HistoryCache(path)
    found = [cache.get(f"pay-cache-{n:02d}") for n in range(openers)]
    cache.close()
    assert all(tx is not None for tx in found)


def test_a_payment_the_server_made_stands_when_the_cache_cannot_take_it(
    tmp_path: Path, wallet: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Money has moved once the server answers: a cache held by another process past its
    wait is a warning, not a failed command (a script would pay again)."""
    monkeypatch.setattr("cpay_cli.cache.BUSY_TIMEOUT_S", 0.05)
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    path = tmp_path / "cache.db"
    warnings: list[str] = []
    engine = CachingEngine(wallet.client("alice"), HistoryCache(path), warn=warnings.append)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")  # another `cpay` writing, and not letting go
    try:
        result = engine.pay(
            payment_id="pay-locked-01", recipient="bob", amount_minor=100, currency="DBL"
        )
    finally:
        holder.rollback()
        holder.close()
        engine.close()

    assert result.transaction.status is TxStatus.COMPLETED
    [warning] = warnings
    assert warning.startswith("warning: the history cache was not updated (database is locked)")


def _damage_inside(path: Path) -> None:
    """Overwrite the file's second page: SQLite opens the file and says "malformed" only
    when it reads that page (the transactions table's root)."""
    with path.open("r+b") as f:
        f.seek(4096)
        f.write(b"\xff" * 200)


def test_a_cache_damaged_inside_is_replaced_and_refilled_when_history_reads_it(
    tmp_path: Path, wallet: Wallet
) -> None:
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    path = tmp_path / "cache.db"
    engine = CachingEngine(wallet.client("alice"), HistoryCache(path), warn=_ignore)
    engine.pay(payment_id="pay-heal-01", recipient="bob", amount_minor=100, currency="DBL")
    engine.history()
    engine.close()
    _damage_inside(path)

    warnings: list[str] = []
    engine = CachingEngine(
        wallet.client("alice"), HistoryCache(path, warn=warnings.append), warn=warnings.append
    )
    try:
        ids = [t.id for t in engine.history().transactions]
    finally:
        engine.close()

    assert ids[0] == "pay-heal-01"
    assert len(ids) == 2  # the payment and the mint, refilled from the server
    [warning] = warnings
    assert "is damaged" in warning
    assert "refills from the server" in warning
    assert [p for p in tmp_path.iterdir() if p.name.startswith("cache.db.damaged-")]


def _ignore(_message: str) -> None:
    return None


def test_a_cache_of_another_wallet_is_set_aside_not_mixed_in(tmp_path: Path) -> None:
    """The profile enrolled again with a server set up anew: the old rows are not this
    wallet's history, and their seqs would hide the new wallet's first rows."""
    path = tmp_path / "bob.db"
    old = HistoryCache(path, wallet="k-engine-old")
    old.upsert([ROW])
    old.mark_synced("c1.7", 1)
    old.close()
    warnings: list[str] = []

    new = HistoryCache(path, warn=warnings.append, wallet="k-engine-new")
    try:
        assert new.get(ROW.id) is None
        assert new.sync_cursor == ""
    finally:
        new.close()
    [warning] = warnings
    assert "mirrors another wallet" in warning
    assert [p for p in tmp_path.iterdir() if p.name.startswith("bob.db.old-")]
    again = HistoryCache(path, warn=warnings.append, wallet="k-engine-new")
    again.close()
    assert len(warnings) == 1  # its own wallet's cache is kept


def test_a_cache_from_before_folded_search_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "bob.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE transactions (id TEXT PRIMARY KEY, seq INTEGER, memo TEXT)")
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('sync_cursor', 'c1.3')")
    conn.commit()
    conn.close()
    warnings: list[str] = []

    cache = HistoryCache(path, warn=warnings.append)
    cache.upsert([ROW])
    assert cache.get(ROW.id) == ROW
    assert cache.sync_cursor == ""
    cache.close()
    [warning] = warnings
    assert "older CPay" in warning


def test_a_new_cache_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "bob.db"
    HistoryCache(path).close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_the_account_is_answered_from_the_cache_when_the_server_cannot_be_reached(
    tmp_path: Path, wallet: Wallet
) -> None:
    """`cpay ui` asks for the account before it opens: offline, the one the server gave
    last lets the dashboard open on the cached history (as the README says it does)."""
    from cpay_engine.client import SignedClient
    from cpay_engine.rpc.transport import GrpcTransport

    path = tmp_path / "cache.db"
    online = CachingEngine(wallet.client("alice"), HistoryCache(path), warn=_ignore)
    seen = online.account()
    online.close()

    unreachable = SignedClient(GrpcTransport("127.0.0.1:1"), wallet.admin_key)
    warnings: list[str] = []
    offline = CachingEngine(unreachable, HistoryCache(path), warn=warnings.append)
    try:
        assert offline.account() == seen
        assert offline.offline
    finally:
        offline.close()
    [warning] = warnings
    assert "showing the offline cache" in warning


def test_a_cache_of_a_server_restored_from_a_backup_starts_again(
    tmp_path: Path, wallet: Wallet
) -> None:
    """The cache listed payments the restored database no longer had and never showed
    the new ones whose seqs were at or below its cursor; history and balance disagreed."""
    from cpay_engine.bootstrap import open_local_engine
    from cpay_engine.client import InProcessTransport, SignedClient

    wallet.add_user("bob")
    wallet.mint("alice", 10_000)
    backup = tmp_path / "backup.db"

    def pay(client: SignedClient, pid: str) -> None:
        client.pay(payment_id=pid, recipient="bob", amount_minor=100, currency="DBL")

    pay(wallet.client("alice"), "kept-payment-1")
    with closing(sqlite3.connect(wallet.path)) as live, closing(sqlite3.connect(backup)) as copy:
        live.backup(copy)
    for n in (1, 2, 3):
        pay(wallet.client("alice"), f"lost-payment-{n}")
    path = tmp_path / "cache.db"
    before = CachingEngine(wallet.client("alice"), HistoryCache(path), warn=_ignore)
    assert len(before.history().transactions) == 5
    before.close()

    wallet.engine.close()  # the operator restores the backup, and the server goes on
    backup.replace(wallet.path)
    engine = open_local_engine(wallet.path, receipt_key=lambda: wallet.engine_key)
    try:
        alice = SignedClient(InProcessTransport(engine), wallet.admin_key)
        for n in (1, 2, 3, 4):  # past the old cursor before the cache syncs again
            pay(alice, f"new-payment-{n}")
        warnings: list[str] = []
        cache = HistoryCache(path, warn=warnings.append)
        after = CachingEngine(alice, cache, warn=warnings.append)
        ids = [t.id for t in after.history().transactions]
        after.close()
    finally:
        engine.close()
    news = [f"new-payment-{n}" for n in (4, 3, 2, 1)]
    assert ids == [*news, "kept-payment-1", ids[-1]]  # and the mint
    assert any("no longer has" in w for w in warnings), warnings


def test_text_that_is_not_utf8_inside_the_cache_is_damage_not_an_internal_error(
    tmp_path: Path, wallet: Wallet
) -> None:
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    path = tmp_path / "cache.db"
    engine = CachingEngine(wallet.client("alice"), HistoryCache(path), warn=_ignore)
    engine.history()
    engine.close()
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(data.replace(b"completed", b"\xff" * 9, 1))

    warnings: list[str] = []
    engine = CachingEngine(
        wallet.client("alice"), HistoryCache(path, warn=warnings.append), warn=warnings.append
    )
    try:
        rows = engine.history().transactions
    finally:
        engine.close()
    assert [t.status.value for t in rows] == ["completed"]
    assert any("is damaged" in w for w in warnings), warnings
