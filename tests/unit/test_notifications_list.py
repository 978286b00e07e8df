"""The notification centre's list: newest received and failed payments, without gaps."""

from __future__ import annotations

import pytest

from cpay_cli.tui.screens.notifications import PER_KIND, load_notifications
from cpay_engine.domain.model import Direction, TxStatus
from cpay_engine.errors import InsufficientFunds
from tests.support import Wallet


def test_no_received_payment_newer_than_the_oldest_shown_is_left_out(wallet: Wallet) -> None:
    """One failed payment, then more tips than a page: the list used to jump from the
    50th newest tip straight to the failure, the tips between them missing."""
    bob = wallet.add_user("bob")
    wallet.mint("alice", 1_000_000)
    with pytest.raises(InsufficientFunds):  # recorded as failed
        bob.pay(payment_id="bob-fails-1", recipient="alice", amount_minor=10, currency="DBL")
    alice = wallet.client("alice")
    tips = PER_KIND + 5
    for n in range(tips):
        alice.pay(payment_id=f"tip-{n:04d}-x", recipient="bob", amount_minor=1, currency="DBL")

    shown = load_notifications(bob)

    assert [t.id for t in shown] == [f"tip-{n:04d}-x" for n in reversed(range(5, tips))]
    oldest = shown[-1].seq
    every = bob.history(limit=500).transactions
    expected = [
        t.id
        for t in every
        if t.seq >= oldest
        and (
            t.status is TxStatus.FAILED
            or (t.direction is Direction.IN and t.status is TxStatus.COMPLETED)
        )
    ]
    assert [t.id for t in shown] == expected
