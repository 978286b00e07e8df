from __future__ import annotations

from tests.support import Wallet


def test_a_minted_payment_moves_money_and_verifies(wallet: Wallet) -> None:
    wallet.add_user("bob")
    wallet.mint("alice", 10_000)
    result = wallet.client("alice").pay(
        payment_id="pay-0000001", recipient="@bob", amount_minor=2_500, currency="DBL"
    )
    assert result.transaction.status.value == "completed"
    assert [b.available_minor for b in wallet.client("alice").balances()] == [7_500]
    assert [b.available_minor for b in wallet.client("bob").balances()] == [2_500]
    assert wallet.client("alice").verify_ledger().ok
