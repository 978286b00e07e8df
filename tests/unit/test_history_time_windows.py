"""Time windows in history are exact even when the clock steps back a little.

The store turns `after:`/`before:` into seq bounds so that a newest-first scan stops
at the edge of the window (bisecting seq: the ledger keeps no index on the stamps);
these tests pin down that no row is lost that way.
"""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpay_engine.adapters.sql_filters import NO_SEQ
from cpay_engine.adapters.sql_uow import SqlUnitOfWork
from cpay_engine.adapters.sqlite_store import SqliteDialect
from cpay_engine.domain.query import HistoryFilter
from tests.support import Clock, Wallet

MINUTE = 60_000


@pytest.fixture
def stepped_wallet(tmp_path: Path) -> tuple[Wallet, list[tuple[str, int]]]:
    """40 payments whose timestamps mostly rise but step back by up to 5 minutes."""
    clock = Clock()
    wallet = Wallet.create(tmp_path / "w.db", clock=clock)
    wallet.add_user("bob")
    wallet.mint("alice", 1_000_000, payment_id="mint-00000001")
    alice = wallet.client_for_key(wallet.keys["alice"], clock=clock)  # signs on engine time
    rng = random.Random(7)
    stamps: list[tuple[str, int]] = []
    for i in range(40):
        clock.advance(rng.choice([2 * MINUTE, 3 * MINUTE, -5 * MINUTE, MINUTE]))
        pid = f"pay-step-{i:04d}"
        alice.pay(payment_id=pid, recipient="bob", amount_minor=1, currency="DBL")
        stamps.append((pid, clock.now_ms))
    return wallet, stamps


def _ids(wallet: Wallet, f: HistoryFilter) -> set[str]:
    clock = wallet.engine.clock
    page = wallet.client_for_key(wallet.keys["alice"], clock=clock).history(limit=500, filter=f)
    return {t.id for t in page.transactions if t.id.startswith("pay-step-")}


def test_every_row_stamped_inside_an_after_window_is_returned(
    stepped_wallet: tuple[Wallet, list[tuple[str, int]]],
) -> None:
    wallet, stamps = stepped_wallet
    for _, since in stamps[::5]:
        expected = {pid for pid, at in stamps if at >= since}
        assert _ids(wallet, HistoryFilter(since_ms=since)) == expected


def test_every_row_stamped_inside_a_before_window_is_returned(
    stepped_wallet: tuple[Wallet, list[tuple[str, int]]],
) -> None:
    wallet, stamps = stepped_wallet
    for _, until in stamps[::5]:
        expected = {pid for pid, at in stamps if at < until}
        assert _ids(wallet, HistoryFilter(until_ms=until)) == expected


def test_a_window_with_nothing_in_it_is_empty(
    stepped_wallet: tuple[Wallet, list[tuple[str, int]]],
) -> None:
    wallet, stamps = stepped_wallet
    latest = max(at for _, at in stamps)
    assert _ids(wallet, HistoryFilter(since_ms=latest + 1)) == set()
    assert _ids(wallet, HistoryFilter(until_ms=min(at for _, at in stamps))) == set()


# --- the seq bounds themselves: SqlUnitOfWork._stamp_crossing --------------------------


def crossing(rows: list[tuple[int, int]], at_ms: int) -> tuple[int, int]:
    """_stamp_crossing over a bare `transactions` table holding (seq, created_at_ms)."""
    with closing(sqlite3.connect(":memory:")) as db:
        db.execute("CREATE TABLE transactions (seq INTEGER PRIMARY KEY, created_at_ms INTEGER)")
        db.executemany("INSERT INTO transactions VALUES (?, ?)", rows)
        return SqlUnitOfWork(SqliteDialect(db))._stamp_crossing(at_ms)


# seqs with gaps (PostgreSQL's identity skips the values of rolled-back inserts)
seqs = st.lists(st.integers(1, 5_000), min_size=0, max_size=300, unique=True).map(sorted)


@given(seqs, st.data())
def test_rising_stamps_give_the_exact_crossing(seq_list: list[int], data: st.DataObject) -> None:
    rows = [(seq, seq) for seq in seq_list]  # stamp = seq: strictly rising
    exact = st.sampled_from(seq_list) if seq_list else st.nothing()
    at_ms = data.draw(st.integers(0, 6_000) | exact)  # often a stamp itself
    below = [s for s in seq_list if s < at_ms]
    above = [s for s in seq_list if s >= at_ms]
    assert crossing(rows, at_ms) == (max(below, default=0), min(above, default=NO_SEQ))


@given(seqs, st.data())
def test_stepped_stamps_give_bounds_that_lose_no_row(
    seq_list: list[int], data: st.DataObject
) -> None:
    """Stamps that rise but may step back by up to SLACK: rows at or below a are stamped
    before at_ms + SLACK, rows at or above b at or after at_ms - SLACK."""
    slack = 50
    rows = [(seq, seq * 10 - data.draw(st.integers(0, slack))) for seq in seq_list]
    at_ms = data.draw(st.integers(-100, 60_000))
    a, b = crossing(rows, at_ms)
    stamp = dict(rows)
    assert a < b
    assert a == 0 or stamp[a] < at_ms
    assert b == NO_SEQ or stamp[b] >= at_ms
    assert all(at < at_ms + slack for seq, at in rows if seq <= a)
    assert all(at >= at_ms - slack for seq, at in rows if seq >= b)


def test_finding_the_crossing_never_scans_the_table() -> None:
    """Every statement the bisection runs is a seek on seq: none reads the whole table
    (SQLite computes min() and max() together by scanning, each alone off the key)."""
    with closing(sqlite3.connect(":memory:")) as db:
        db.execute("CREATE TABLE transactions (seq INTEGER PRIMARY KEY, created_at_ms INTEGER)")
        db.executemany("INSERT INTO transactions VALUES (?, ?)", [(s, s) for s in range(1, 999)])
        statements: list[str] = []
        db.set_trace_callback(statements.append)
        SqlUnitOfWork(SqliteDialect(db))._stamp_crossing(500)
        db.set_trace_callback(None)
        plans = [
            str(row[3]) for sql in statements for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")
        ]
    assert len(statements) > 5  # the ends, then a probe per halving
    assert plans
    assert not [p for p in plans if p.startswith("SCAN transactions")], plans
