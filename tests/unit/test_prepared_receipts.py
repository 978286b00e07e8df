"""A payment's receipt is signed before its unit of work, for the outcome it expects.

The engine uses that receipt only when the transaction it records has exactly the fields
the receipt was signed for; otherwise it signs afresh, and a payment that fails has no
receipt at all. These tests hand the handler a prepared receipt that is wrong and check
that it never reaches the ledger or the caller.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from cpay_engine.client import receipt_verifies
from cpay_engine.errors import InsufficientFunds, NotFound
from cpay_engine.service import handlers
from cpay_engine.service.engine import METHODS, Engine, method_name
from cpay_engine.service.ports import UserRecord
from cpay_engine.wire import cpay_pb2 as pb
from tests.support import Wallet

PAY = method_name("ProcessPayment")


def use_prepare(
    monkeypatch: pytest.MonkeyPatch, prepare: Callable[..., Any], method: str = PAY
) -> list[Any]:
    """Route `method`'s prepare step through `prepare`; returns what it prepared."""
    prepared: list[Any] = []

    def recording(engine: Engine, user: UserRecord, now: int, body: Any) -> Any:
        result = prepare(engine, user, now, body)
        prepared.append(result)
        return result

    monkeypatch.setitem(METHODS, method, dataclasses.replace(METHODS[method], prepare=recording))
    return prepared


@pytest.fixture
def funded(wallet: Wallet) -> Wallet:
    wallet.add_user("bob")
    wallet.mint("alice", 10_000)
    return wallet


def pay(wallet: Wallet, amount_minor: int, memo: str = "") -> Any:
    return wallet.client("alice").pay(
        payment_id=str(uuid.uuid4()),
        recipient="@bob",
        amount_minor=amount_minor,
        currency="DBL",
        memo=memo,
    )


def test_the_receipt_signed_in_advance_is_the_one_the_payment_gets(
    funded: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = use_prepare(monkeypatch, handlers.prepare_payment)
    result = pay(funded, 250, memo="lunch")
    receipt = result.transaction.receipt
    assert receipt is not None
    assert prepared[0].receipt is not None
    assert (receipt.payload, receipt.signature) == (
        prepared[0].receipt.payload,
        prepared[0].receipt.signature,
    )
    engine_keys = funded.client("alice").account().engine_keys
    assert receipt_verifies(result.transaction, engine_keys)
    stored = funded.client("bob").transaction(result.transaction.id)
    assert stored.receipt == receipt


def test_a_receipt_prepared_for_other_fields_is_not_used(
    funded: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed for another amount and time: the payment gets a receipt of its own."""

    def stale(engine: Engine, user: UserRecord, now: int, body: Any) -> Any:
        other = pb.PaymentRequest.Body()
        other.CopyFrom(body)
        other.amount_minor = body.amount_minor + 1
        wrong = handlers.prepare_payment(engine, user, now - 1, other)
        right = handlers.prepare_payment(engine, user, now, body)
        assert wrong is not None
        assert right is not None
        return dataclasses.replace(
            right, receipt_fields=wrong.receipt_fields, receipt=wrong.receipt
        )

    prepared = use_prepare(monkeypatch, stale)
    result = pay(funded, 250)
    receipt = result.transaction.receipt
    assert receipt is not None
    assert receipt.signature != prepared[0].receipt.signature
    engine_keys = funded.client("alice").account().engine_keys
    assert receipt_verifies(result.transaction, engine_keys)
    assert receipt_verifies(funded.client("bob").transaction(result.transaction.id), engine_keys)


def test_a_payment_that_fails_has_no_receipt_though_one_was_prepared(
    funded: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = use_prepare(monkeypatch, handlers.prepare_payment)
    with pytest.raises(InsufficientFunds) as failure:
        pay(funded, 20_000)
    assert prepared[0].receipt is not None
    payment_id = failure.value.details["payment_id"]
    assert funded.client("alice").transaction(payment_id).receipt is None


def test_a_handle_not_found_before_is_found_once_the_user_exists(funded: Wallet) -> None:
    """The engine remembers users it found (they never change), never a handle it did not."""
    with pytest.raises(NotFound, match="no user @dave"):
        funded.client("alice").pay(
            payment_id=str(uuid.uuid4()), recipient="@dave", amount_minor=5, currency="DBL"
        )
    funded.add_user("dave")
    result = funded.client("alice").pay(
        payment_id=str(uuid.uuid4()), recipient="@dave", amount_minor=5, currency="DBL"
    )
    assert result.transaction.to_handle == "dave"
    assert [b.available_minor for b in funded.client("dave").balances()] == [5]


def test_a_mint_gets_the_receipt_signed_in_advance_too(
    funded: Wallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared = use_prepare(monkeypatch, handlers.prepare_mint, method_name("MintDabloons"))
    result = funded.client("alice").mint(
        payment_id=str(uuid.uuid4()), recipient="@bob", amount_minor=300, currency="DBL"
    )
    receipt = result.transaction.receipt
    assert receipt is not None
    assert prepared[0].receipt is not None
    assert receipt.signature == prepared[0].receipt.signature
    assert receipt_verifies(result.transaction, funded.client("alice").account().engine_keys)
