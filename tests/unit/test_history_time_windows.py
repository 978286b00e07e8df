"""Time windows in history are exact even when the clock steps back a little.

The store turns `after:`/`before:` into seq bounds so that a newest-first scan stops
at the edge of the window; these tests pin down that no row is lost that way.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

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
