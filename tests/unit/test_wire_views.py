"""The answer's transaction on the wire and back: every field lands where it belongs.

fill_transaction (engine side) and transaction_view (client side) are written field by
field, positionally in the client's case, for speed; a swap of two fields of one type
(from/to handle, failure code/message) would still type-check, so each field gets a
value no other field has."""

from __future__ import annotations

import pytest

from cpay_engine.api import PostingView, ReceiptView
from cpay_engine.client import transaction_view
from cpay_engine.domain.model import Direction, TxKind, TxStatus
from cpay_engine.service.ports import NewTransaction, PostingRecord, ReceiptRecord, TxRecord
from cpay_engine.service.views import fill_transaction, transaction_pb
from cpay_engine.wire import cpay_pb2 as pb

RECORD = TxRecord(
    seq=41,
    id="pay-0001-id",
    kind=TxKind.MINT,
    status=TxStatus.FAILED,
    created_at_ms=1_795_000_000_123,
    initiator_id="u-initiator",
    from_user_id="u-from",
    to_user_id="u-to",
    from_handle="alice",
    to_handle="bob",
    amount_minor=777,
    currency="EUR",
    memo="the memo",
    failure_code="code-x",
    failure_message="message-y",
)
POSTINGS = [PostingRecord("@alice:EUR", -777, "EUR"), PostingRecord("@bob:EUR", 777, "EUR")]
RECEIPT = ReceiptRecord("k-receipt", b"payload-bytes", b"s" * 64)


@pytest.mark.parametrize(
    ("direction", "counterparty"), [(Direction.OUT, "bob"), (Direction.IN, "alice"), (None, "")]
)
def test_every_field_round_trips(direction: Direction | None, counterparty: str) -> None:
    wire = pb.Transaction.FromString(
        transaction_pb(RECORD, direction, POSTINGS, RECEIPT).SerializeToString()
    )
    view = transaction_view(wire)
    assert (view.id, view.seq, view.kind, view.status, view.created_at_ms) == (
        "pay-0001-id",
        41,
        TxKind.MINT,
        TxStatus.FAILED,
        1_795_000_000_123,
    )
    assert (view.from_handle, view.to_handle, view.amount_minor, view.currency, view.memo) == (
        "alice",
        "bob",
        777,
        "EUR",
        "the memo",
    )
    assert (view.direction, view.counterparty) == (direction, counterparty)
    assert (view.failure_code, view.failure_message) == ("code-x", "message-y")
    assert view.postings == (
        PostingView("@alice:EUR", -777, "EUR"),
        PostingView("@bob:EUR", 777, "EUR"),
    )
    assert view.receipt == ReceiptView("k-receipt", b"payload-bytes", b"s" * 64)


def test_no_postings_no_receipt() -> None:
    view = transaction_view(transaction_pb(RECORD, Direction.OUT))
    assert view.postings == ()
    assert view.receipt is None


def test_a_new_transaction_fills_a_response_in_place() -> None:
    new = NewTransaction(
        "pay-0002-id",
        TxKind.PAYMENT,
        TxStatus.COMPLETED,
        5,
        "u-initiator",
        "u-from",
        "u-to",
        "carol",
        "dave",
        9,
        "DBL",
        "",
    )
    response = pb.PaymentResponse()
    fill_transaction(response.transaction, new, 7, Direction.OUT, [("@carol:DBL", -9, "DBL")])
    assert response.HasField("transaction")
    view = transaction_view(response.transaction)
    assert (view.id, view.seq, view.from_handle, view.to_handle, view.counterparty) == (
        "pay-0002-id",
        7,
        "carol",
        "dave",
        "dave",
    )
    assert view.postings == (PostingView("@carol:DBL", -9, "DBL"),)
    assert (view.failure_code, view.failure_message, view.receipt) == ("", "", None)
