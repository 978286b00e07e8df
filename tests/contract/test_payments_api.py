"""One behaviour suite for PaymentsAPI, run on every engine (see conftest.ENGINES).

Each test takes `engines` (or `people`, built on it) and so runs locally, over gRPC and
over gRPC behind the history cache; all three must give the same answers. The tests at
the end are about the gRPC face itself: one signed request answered alike locally and
remotely, the status and ErrorInfo of a refused call, health checking and retries.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar, cast

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.api import BalanceView, PaymentResult, PaymentsAPI, TransactionView
from cpay_engine.client import InProcessTransport, RetryPolicy, SignedClient, receipt_verifies
from cpay_engine.domain.model import Direction, Role, TxKind, TxStatus
from cpay_engine.domain.query import HistoryFilter
from cpay_engine.domain.signing import signing_input
from cpay_engine.errors import (
    CPayError,
    FailedPrecondition,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from cpay_engine.rpc.errors import ERROR_DOMAIN
from cpay_engine.rpc.server import RunningServer, start_server
from cpay_engine.rpc.transport import GrpcTransport
from cpay_engine.service.engine import METHODS, SERVICE, Engine, method_name
from cpay_engine.wire import cpay_pb2 as pb
from tests.contract.conftest import Engines, Served
from tests.support import Wallet

R = TypeVar("R", bound=Message)

DBL = "DBL"


@pytest.fixture
def people(engines: Engines) -> Engines:
    """@alice (admin) holds 100.00 DBL, @carol 5.00 DBL; @bob (a user) holds nothing.

    Both balances were minted by @alice, as mint-alice-01 and mint-carol-01.
    """
    engines.add_user("bob")
    engines.add_user("carol")
    admin = engines.api("alice")
    admin.mint(payment_id="mint-alice-01", recipient="alice", amount_minor=10_000, currency=DBL)
    admin.mint(payment_id="mint-carol-01", recipient="carol", amount_minor=500, currency=DBL)
    return engines


@dataclass(frozen=True)
class Order:
    """A payment order: @alice's 10.00 DBL to @bob as pay-once-01 unless told otherwise."""

    payment_id: str = "pay-once-01"
    recipient: str = "bob"
    amount_minor: int = 1_000
    currency: str = DBL
    memo: str = "once"

    def pay(self, api: PaymentsAPI) -> PaymentResult:
        return api.pay(
            payment_id=self.payment_id,
            recipient=self.recipient,
            amount_minor=self.amount_minor,
            currency=self.currency,
            memo=self.memo,
        )


def balances(api: PaymentsAPI) -> list[BalanceView]:
    return api.balances()


def all_history(api: PaymentsAPI, *, limit: int, f: HistoryFilter | None = None) -> list[str]:
    """Every transaction id in `api`'s history, following next_cursor page by page."""
    ids: list[str] = []
    cursor = ""
    for _ in range(100):
        page = api.history(limit=limit, before_cursor=cursor, filter=f)
        ids.extend(t.id for t in page.transactions)
        cursor = page.next_cursor
        if not cursor:
            return ids
    raise AssertionError(f"history did not end after 100 pages: {ids}")


def history_ids(api: PaymentsAPI, f: HistoryFilter | None = None) -> list[str]:
    return [t.id for t in api.history(filter=f).transactions]


# --- money moves ---------------------------------------------------------------------------


def test_a_mint_credits_the_recipient_from_the_treasury(engines: Engines) -> None:
    engines.add_user("bob")

    result = engines.api("alice").mint(
        payment_id="mint-bob-001", recipient="bob", amount_minor=4_200, currency=DBL, memo="hi"
    )

    tx = result.transaction
    assert not result.replayed
    assert (tx.id, tx.kind, tx.status) == ("mint-bob-001", TxKind.MINT, TxStatus.COMPLETED)
    assert (tx.from_handle, tx.to_handle, tx.amount_minor, tx.memo) == (
        "treasury",
        "bob",
        4_200,
        "hi",
    )
    assert balances(engines.api("bob")) == [BalanceView(DBL, 4_200)]


def test_a_payment_moves_money_from_payer_to_payee(people: Engines) -> None:
    result = people.api("alice").pay(
        payment_id="pay-rent-01", recipient="@bob", amount_minor=2_500, currency=DBL, memo="rent"
    )

    tx = result.transaction
    assert not result.replayed
    assert (tx.id, tx.kind, tx.status) == ("pay-rent-01", TxKind.PAYMENT, TxStatus.COMPLETED)
    assert (tx.from_handle, tx.to_handle, tx.direction, tx.counterparty) == (
        "alice",
        "bob",
        Direction.OUT,
        "bob",
    )
    assert (tx.amount_minor, tx.currency, tx.memo) == (2_500, DBL, "rent")
    assert sorted((p.amount_minor, p.currency) for p in tx.postings) == [
        (-2_500, DBL),
        (2_500, DBL),
    ]
    assert balances(people.api("alice")) == [BalanceView(DBL, 7_500)]
    assert balances(people.api("bob")) == [BalanceView(DBL, 2_500)]
    assert people.api("alice").verify_ledger().ok


def test_the_payee_sees_the_payment_as_incoming_from_the_payer(people: Engines) -> None:
    people.api("alice").pay(
        payment_id="pay-rent-01", recipient="bob", amount_minor=100, currency=DBL
    )

    seen_by_bob = people.api("bob").transaction("pay-rent-01")

    assert (seen_by_bob.direction, seen_by_bob.counterparty) == (Direction.IN, "alice")
    assert seen_by_bob.amount_minor == 100


def test_an_admin_looking_at_others_payment_is_neither_its_payer_nor_its_payee(
    people: Engines,
) -> None:
    people.api("carol").pay(
        payment_id="pay-c2b-01", recipient="bob", amount_minor=100, currency=DBL
    )

    seen_by_alice = people.api("alice").transaction("pay-c2b-01")  # alice is an admin

    assert (seen_by_alice.from_handle, seen_by_alice.to_handle) == ("carol", "bob")
    assert (seen_by_alice.direction, seen_by_alice.counterparty) == (None, "")
    if people.kind == "remote+cache":  # offline, alice's history is her own transactions
        alice = people.api("alice")
        alice.history(limit=50)  # the cache takes in her history
        assert people.server is not None
        people.server.stop()
        offline = [t.id for t in alice.history(limit=50).transactions]
        assert "mint-alice-01" in offline
        assert "pay-c2b-01" not in offline


def test_a_transaction_reads_the_same_from_its_result_its_id_and_the_history(
    people: Engines,
) -> None:
    alice = people.api("alice")
    result = Order(memo="tea").pay(alice)

    by_id = alice.transaction(Order.payment_id)
    [in_history] = alice.history(limit=1, include_details=True).transactions

    assert by_id == result.transaction
    assert in_history == result.transaction
    assert receipt_verifies(result.transaction, alice.account().engine_keys)


def test_a_transaction_is_found_by_a_unique_start_of_its_id(people: Engines) -> None:
    """As git takes short hashes: `cpay show 8290134f` (what a narrow table leaves)."""
    alice, bob, carol = people.api("alice"), people.api("bob"), people.api("carol")
    first = Order(payment_id="abcd1111-first").pay(alice).transaction
    second = Order(payment_id="abcd2222-second", amount_minor=5).pay(alice).transaction

    assert alice.transaction("abcd1") == first
    assert alice.transaction("abcd2222-sec") == second
    assert bob.transaction("abcd1").direction is Direction.IN  # the payee's own, too
    with pytest.raises(InvalidInput, match=r"more than one .* starting with abcd"):
        alice.transaction("abcd")
    with pytest.raises(InvalidInput, match=r"'abc': .* first 4 characters at least"):  # short
        alice.transaction("abc")
    with pytest.raises(NotFound, match="abcd1"):  # someone else's: not carol's to find
        carol.transaction("abcd1")
    # Ids may hold "_", a LIKE wildcard: it matches itself only.
    under = Order(payment_id="ab_c1111-under", amount_minor=1).pay(alice).transaction
    Order(payment_id="abXc2222-plain", amount_minor=1).pay(alice)
    assert alice.transaction("ab_c") == under
    # An admin sees every transaction by its whole id, but short ids name her own only.
    assert alice.transaction("mint-carol-01").id == "mint-carol-01"
    with pytest.raises(NotFound, match="mint-caro"):
        alice.transaction("mint-caro")


@pytest.mark.parametrize(
    "memo",
    ["café ☕ für Jürgen — 日本", "two\nlines\tand a tab", "[bold]not markup[/]", ""],
    ids=["unicode", "control-characters", "markup", "empty"],
)
def test_a_memo_comes_back_exactly_as_it_was_sent(people: Engines, memo: str) -> None:
    Order(memo=memo).pay(people.api("alice"))

    assert people.api("bob").transaction(Order.payment_id).memo == memo
    assert [t.memo for t in people.api("bob").history().transactions] == [memo]


def test_replaying_a_payment_returns_the_original_transaction_and_moves_nothing(
    people: Engines,
) -> None:
    alice, order = people.api("alice"), Order(amount_minor=1_000)
    first = order.pay(alice)

    again = order.pay(alice)

    assert (first.replayed, again.replayed) == (False, True)
    assert again.transaction == first.transaction
    assert balances(alice) == [BalanceView(DBL, 9_000)]
    assert balances(people.api("bob")) == [BalanceView(DBL, 1_000)]


@pytest.mark.parametrize(
    ("field", "changed"),
    [
        ("amount", Order(amount_minor=1_001)),
        ("recipient", Order(recipient="carol")),
        ("memo", Order(memo="twice")),
    ],
)
def test_reusing_a_payment_id_with_different_content_is_a_conflict_naming_the_field(
    people: Engines, field: str, changed: Order
) -> None:
    alice = people.api("alice")
    Order().pay(alice)

    with pytest.raises(IdempotencyConflict) as caught:
        changed.pay(alice)

    assert caught.value.details["field"] == field
    assert caught.value.details["payment_id"] == Order.payment_id
    assert Order.payment_id in caught.value.message
    assert balances(alice) == [BalanceView(DBL, 10_000 - Order.amount_minor)]


def test_another_user_cannot_reuse_a_payment_id(people: Engines) -> None:
    people.api("alice").pay(payment_id="pay-once-01", recipient="bob", amount_minor=1, currency=DBL)

    with pytest.raises(IdempotencyConflict) as caught:
        people.api("carol").pay(
            payment_id="pay-once-01", recipient="bob", amount_minor=1, currency=DBL
        )

    assert caught.value.details["field"] == "payment_id"
    assert balances(people.api("carol")) == [BalanceView(DBL, 500)]


def test_a_payment_without_funds_is_recorded_as_failed_and_replays_its_failure(
    people: Engines,
) -> None:
    bob = people.api("bob")

    with pytest.raises(InsufficientFunds) as first:
        bob.pay(payment_id="pay-broke-01", recipient="alice", amount_minor=100, currency=DBL)
    with pytest.raises(InsufficientFunds) as again:
        bob.pay(payment_id="pay-broke-01", recipient="alice", amount_minor=100, currency=DBL)

    assert first.value.details["payment_id"] == again.value.details["payment_id"] == "pay-broke-01"
    failed = bob.transaction("pay-broke-01")
    assert (failed.status, failed.failure_code, failed.postings) == (
        TxStatus.FAILED,
        "insufficient_funds",
        (),
    )
    assert history_ids(bob) == ["pay-broke-01"]
    assert balances(bob) == [BalanceView(DBL, 0)]
    assert balances(people.api("alice")) == [BalanceView(DBL, 10_000)]


# --- errors cross every engine as the same class with the same code -------------------------

Action = Callable[[Engines], object]


@dataclass(frozen=True)
class Refusal:
    """A request the engine must refuse with `expected`, its message saying `says`."""

    name: str
    action: Action
    expected: type[CPayError]
    says: str
    arrange: Action = lambda _w: None


def _pay(payer: str, order: Order) -> Action:
    return lambda w: order.pay(w.api(payer))


REFUSALS = [
    Refusal("unknown-currency", _pay("alice", Order(currency="XYZ")), InvalidInput, "XYZ"),
    Refusal("zero-amount", _pay("alice", Order(amount_minor=0)), InvalidInput, "greater than zero"),
    Refusal("unknown-payee", _pay("alice", Order(recipient="nobody")), NotFound, "@nobody"),
    Refusal(
        "someone-elses-transaction",
        lambda w: w.api("bob").transaction("mint-carol-01"),
        NotFound,
        "mint-carol-01",
    ),
    Refusal(
        "unknown-transaction",
        lambda w: w.api("bob").transaction("no-such-tx-01"),
        NotFound,
        "no-such-tx-01",
    ),
    # Over gRPC the message travels in the response headers: an echo of a huge value
    # must stay short, or the client sees RESOURCE_EXHAUSTED instead of the error.
    Refusal(
        "huge-transaction-id",
        lambda w: w.api("bob").transaction("a" * 20_000),
        NotFound,
        "(20000 characters)",
    ),
    Refusal("huge-payee", _pay("alice", Order(recipient="b" * 30_000)), InvalidInput, "30000 char"),
    Refusal(
        "huge-currency", _pay("alice", Order(currency="X" * 30_000)), InvalidInput, "30000 char"
    ),
    Refusal(
        "huge-payment-id", _pay("alice", Order(payment_id="p" * 30_000)), InvalidInput, "30000"
    ),
    Refusal("pay-yourself", _pay("alice", Order(recipient="alice")), InvalidInput, "yourself"),
    Refusal("not-dabloons", _pay("alice", Order(currency="USD")), InvalidInput, "DBL"),
    Refusal("bad-payment-id", _pay("alice", Order(payment_id="x")), InvalidInput, "payment id"),
    Refusal("long-memo", _pay("alice", Order(memo="m" * 281)), InvalidInput, "280"),
    Refusal("no-funds", _pay("bob", Order(recipient="alice")), InsufficientFunds, "insufficient"),
    Refusal(
        "revoke-only-key",
        lambda w: w.api("bob").revoke_key(w.wallet.keys["bob"].key_id),
        FailedPrecondition,
        "only active key",
    ),
    Refusal(
        "revoke-someone-elses-key",
        lambda w: w.api("bob").revoke_key(w.wallet.keys["carol"].key_id),
        NotFound,
        "no key",
    ),
    Refusal(
        "enroll-a-registered-key",
        lambda w: w.api("bob").enroll(invite_code="inv-whatever", handle="bobby"),
        Unauthenticated,
        "already registered",
    ),
    Refusal(
        "user-mints",
        lambda w: w.api("bob").mint(
            payment_id="mint-err-01", recipient="bob", amount_minor=1, currency=DBL
        ),
        PermissionDenied,
        "minting Dabloons needs the admin role; @bob is a user",
    ),
    Refusal(
        "user-creates-user",
        lambda w: w.api("bob").create_user(
            handle="mallory", role=Role.ADMIN, public_key=SigningKey.generate().public_key
        ),
        PermissionDenied,
        "adding a user needs the admin role",
    ),
    Refusal(
        "user-lists-users",
        lambda w: w.api("bob").list_users(),
        PermissionDenied,
        "listing the users needs",
    ),
    Refusal(
        "unregistered-key",
        lambda w: w.api_for_key(SigningKey.generate()).balances(),
        Unauthenticated,
        "unknown key",
    ),
    Refusal(
        "id-reused-with-another-amount",
        _pay("alice", Order(amount_minor=999)),
        IdempotencyConflict,
        Order.payment_id,
        arrange=_pay("alice", Order()),
    ),
]


@pytest.mark.parametrize("refusal", [pytest.param(r, id=r.name) for r in REFUSALS])
def test_every_refusal_reaches_the_caller_as_the_same_class_and_code_and_moves_nothing(
    people: Engines, refusal: Refusal
) -> None:
    refusal.arrange(people)
    before = {h: balances(people.api(h)) for h in ("alice", "bob", "carol")}

    with pytest.raises(CPayError) as caught:
        refusal.action(people)

    assert type(caught.value) is refusal.expected
    assert caught.value.code == refusal.expected.code
    assert refusal.says in caught.value.message
    assert len(caught.value.message) < 400
    assert {h: balances(people.api(h)) for h in before} == before


# --- history -------------------------------------------------------------------------------


def test_history_pages_through_every_transaction_exactly_once_newest_first(
    people: Engines,
) -> None:
    alice = people.api("alice")
    paid = [
        alice.pay(
            payment_id=f"pay-page-{n:02d}", recipient="bob", amount_minor=n, currency=DBL
        ).transaction.id
        for n in range(1, 26)
    ]

    pages: list[tuple[TransactionView, ...]] = []
    cursor = ""
    for _ in range(10):
        page = alice.history(limit=10, before_cursor=cursor)
        pages.append(page.transactions)
        cursor = page.next_cursor
        if not cursor:
            break

    assert [len(p) for p in pages] == [10, 10, 6]
    seen = [t for p in pages for t in p]
    assert [t.id for t in seen] == [*reversed(paid), "mint-alice-01"]
    assert [t.seq for t in seen] == sorted((t.seq for t in seen), reverse=True)
    assert len({t.seq for t in seen}) == len(seen)
    assert people.warnings == []  # nothing answered from a stale cache


def test_the_payees_history_holds_the_same_payments_as_incoming(people: Engines) -> None:
    alice = people.api("alice")
    for n in range(1, 8):
        alice.pay(payment_id=f"pay-page-{n:02d}", recipient="bob", amount_minor=n, currency=DBL)

    page = people.api("bob").history(limit=50)

    assert [t.id for t in page.transactions] == [f"pay-page-{n:02d}" for n in range(7, 0, -1)]
    assert {(t.direction, t.counterparty) for t in page.transactions} == {(Direction.IN, "alice")}
    assert page.next_cursor == ""


@pytest.fixture
def shopping(people: Engines) -> PaymentsAPI:
    """@alice paid @bob for rent and pizza, and @carol for groceries."""
    alice = people.api("alice")
    for pid, to, memo in (
        ("pay-rent-01", "bob", "rent for March"),
        ("pay-food-01", "carol", "groceries"),
        ("pay-food-02", "bob", "pizza night"),
    ):
        alice.pay(payment_id=pid, recipient=to, amount_minor=300, currency=DBL, memo=memo)
    return alice


def test_history_filters_by_counterparty(shopping: PaymentsAPI) -> None:
    assert history_ids(shopping, HistoryFilter(counterparty="bob")) == [
        "pay-food-02",
        "pay-rent-01",
    ]
    assert history_ids(shopping, HistoryFilter(counterparty="carol")) == ["pay-food-01"]


def test_history_filters_by_words_in_the_memo_or_the_counterparty(shopping: PaymentsAPI) -> None:
    assert history_ids(shopping, HistoryFilter(words=("rent",))) == ["pay-rent-01"]
    assert history_ids(shopping, HistoryFilter(words=("Pizza",))) == ["pay-food-02"]
    assert history_ids(shopping, HistoryFilter(words=("carol",))) == ["pay-food-01"]
    assert history_ids(shopping, HistoryFilter(words=("rent", "march"))) == ["pay-rent-01"]
    assert history_ids(shopping, HistoryFilter(words=("rent", "pizza"))) == []


def test_history_combines_counterparty_and_words(shopping: PaymentsAPI) -> None:
    found = history_ids(shopping, HistoryFilter(counterparty="bob", words=("pizza",)))

    assert found == ["pay-food-02"]


def test_a_filtered_history_pages_like_an_unfiltered_one(shopping: PaymentsAPI) -> None:
    for n in range(1, 6):
        shopping.pay(payment_id=f"pay-bob-{n:02d}", recipient="bob", amount_minor=n, currency=DBL)

    found = all_history(shopping, limit=2, f=HistoryFilter(counterparty="bob"))

    assert found == [f"pay-bob-{n:02d}" for n in range(5, 0, -1)] + ["pay-food-02", "pay-rent-01"]


def test_a_counterparty_filter_takes_a_handle_as_written_like_pay_does(
    shopping: PaymentsAPI,
) -> None:
    # pay(recipient="@Bob") pays @bob; the same spelling names @bob in a filter.
    assert history_ids(shopping, HistoryFilter(counterparty="@Bob")) == [
        "pay-food-02",
        "pay-rent-01",
    ]


def test_a_history_filter_with_an_unknown_currency_is_invalid_input(shopping: PaymentsAPI) -> None:
    with pytest.raises(InvalidInput, match="XYZ"):
        shopping.history(filter=HistoryFilter(currency="XYZ"))


@pytest.mark.parametrize("limit", [-1, 501])
def test_a_history_page_size_out_of_range_is_invalid_input(
    shopping: PaymentsAPI, limit: int
) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        shopping.history(limit=limit)


def test_a_history_page_size_of_zero_asks_for_the_default_page(shopping: PaymentsAPI) -> None:
    # 0 is the wire's "not set": the engine answers with its default page of 50.
    assert shopping.history(limit=0) == shopping.history()


def test_a_filter_word_matches_inside_a_memo_word(people: Engines) -> None:
    alice = people.api("alice")
    alice.pay(
        payment_id="pay-ball-01", recipient="bob", amount_minor=1, currency=DBL, memo="football"
    )

    assert history_ids(alice, HistoryFilter(words=("ball",))) == ["pay-ball-01"]


@pytest.mark.parametrize("word", ["über", "ÜBER", "Über"], ids=["lower", "upper", "title"])
def test_a_filter_word_matches_whatever_the_letter_case_accented_letters_included(
    people: Engines, word: str
) -> None:
    alice = people.api("alice")
    Order(memo="Über den Fluss").pay(alice)

    assert history_ids(alice, HistoryFilter(words=(word,))) == [Order.payment_id]


@pytest.mark.parametrize(
    ("word", "memo"),
    [
        ("strasse", "Straße"),  # casefold: ß is ss
        ("STRASSE", "Straße"),
        ("é", "ÉTÉ"),  # one or two letters: not the trigram index's
        ("éc", "Éclair"),
        ("äb", "ÄB"),
    ],
)
def test_short_and_folded_words_match_as_the_engine_folds_them_on_every_face(
    people: Engines, word: str, memo: str
) -> None:
    """The remote cache searched with SQLite's own folding (ASCII only for LIKE, no ß→ss
    in the trigram index), so remote users missed rows local users found."""
    alice = people.api("alice")
    Order(memo=memo).pay(alice)

    assert history_ids(alice, HistoryFilter(words=(word,))) == [Order.payment_id]


# --- receipts ------------------------------------------------------------------------------


def test_every_party_can_verify_the_receipt_of_a_payment_offline(people: Engines) -> None:
    people.api("alice").pay(
        payment_id="pay-rcpt-01", recipient="bob", amount_minor=1_234, currency=DBL, memo="tea"
    )

    for handle in ("alice", "bob"):
        api = people.api(handle)
        tx = api.transaction("pay-rcpt-01")
        assert tx.receipt is not None
        assert receipt_verifies(tx, api.account().engine_keys), handle


def test_a_receipt_does_not_verify_for_altered_content_or_an_unknown_engine_key(
    people: Engines,
) -> None:
    alice = people.api("alice")
    alice.pay(payment_id="pay-rcpt-01", recipient="bob", amount_minor=1_234, currency=DBL)
    tx = alice.transaction("pay-rcpt-01")
    engine_keys = alice.account().engine_keys

    assert receipt_verifies(tx, engine_keys)
    assert not receipt_verifies(dataclasses.replace(tx, amount_minor=9_999), engine_keys)
    assert not receipt_verifies(dataclasses.replace(tx, to_handle="carol"), engine_keys)
    assert not receipt_verifies(tx, ())


def test_history_with_details_carries_receipts_that_verify(people: Engines) -> None:
    alice = people.api("alice")
    for n in range(1, 4):
        alice.pay(payment_id=f"pay-rcpt-{n:02d}", recipient="bob", amount_minor=n, currency=DBL)
    engine_keys = alice.account().engine_keys

    page = alice.history(include_details=True)

    assert [t.id for t in page.transactions] == [
        "pay-rcpt-03",
        "pay-rcpt-02",
        "pay-rcpt-01",
        "mint-alice-01",
    ]
    assert all(receipt_verifies(t, engine_keys) for t in page.transactions)


# --- enrollment and keys -------------------------------------------------------------------


def test_an_invited_device_enrolls_and_can_then_use_the_wallet(people: Engines) -> None:
    admin = people.api("alice")
    invite = admin.create_invite(role=Role.USER)
    key = SigningKey.generate()
    newcomer = people.api_for_key(key)

    enrolled = newcomer.enroll(invite_code=invite.code, handle="dave")

    assert (enrolled.user.handle, enrolled.user.role, enrolled.user.key_id) == (
        "dave",
        Role.USER,
        key.key_id,
    )
    assert enrolled.engine_keys == admin.account().engine_keys
    assert balances(newcomer) == [BalanceView(DBL, 0)]
    admin.pay(payment_id="pay-dave-01", recipient="dave", amount_minor=700, currency=DBL)
    assert balances(newcomer) == [BalanceView(DBL, 700)]
    assert "dave" in {u.handle for u in admin.list_users()}


def test_an_invite_code_enrolls_only_once(people: Engines) -> None:
    invite = people.api("alice").create_invite(role=Role.USER)
    people.api_for_key(SigningKey.generate()).enroll(invite_code=invite.code, handle="dave")
    latecomer = people.api_for_key(SigningKey.generate())

    with pytest.raises(Unauthenticated, match="already used"):
        latecomer.enroll(invite_code=invite.code, handle="erin")

    with pytest.raises(Unauthenticated):
        latecomer.balances()


def test_an_unknown_invite_code_enrolls_nobody(people: Engines) -> None:
    stranger = people.api_for_key(SigningKey.generate())

    with pytest.raises(Unauthenticated, match="not valid"):
        stranger.enroll(invite_code="inv-made-up-code", handle="erin")

    assert "erin" not in {u.handle for u in people.api("alice").list_users()}


def test_an_invite_carries_its_role_to_the_enrolled_user(people: Engines) -> None:
    invite = people.api("alice").create_invite(role=Role.AUDITOR, ttl_seconds=600)
    auditor = people.api_for_key(SigningKey.generate())

    assert auditor.enroll(invite_code=invite.code, handle="audra").user.role is Role.AUDITOR
    assert "audra" in {u.handle for u in auditor.list_users()}
    with pytest.raises(PermissionDenied):
        auditor.mint(payment_id="mint-audra-1", recipient="audra", amount_minor=1, currency=DBL)


def test_an_invite_for_an_existing_user_adds_a_device_that_can_revoke_a_lost_one(
    people: Engines,
) -> None:
    """bob lost his only device: an admin invites another device for @bob; it enrolls
    as @bob (same user, same money), and from it bob revokes the lost device's key."""
    admin, lost = people.api("alice"), people.wallet.keys["bob"]
    admin.pay(payment_id="pay-bob-before", recipient="bob", amount_minor=300, currency=DBL)
    invite = admin.create_invite(role=None, for_handle="@bob")
    assert (invite.for_handle, invite.role) == ("bob", Role.USER)
    new_key = SigningKey.generate()
    device = people.api_for_key(new_key)

    enrolled = device.enroll(invite_code=invite.code, handle="bob")

    assert (enrolled.user.handle, enrolled.user.key_id) == ("bob", new_key.key_id)
    assert enrolled.user.user_id == people.api("bob").account().user_id
    assert balances(device) == balances(people.api("bob")) == [BalanceView(DBL, 300)]
    assert "pay-bob-before" in [t.id for t in device.history().transactions]
    device.revoke_key(lost.key_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        people.api_for_key(lost).balances()
    assert {k.key_id: k.revoked for k in device.list_keys()} == {
        lost.key_id: True,
        new_key.key_id: False,
    }


def test_an_invite_for_a_user_is_refused_for_another_handle_an_unknown_user_or_role(
    people: Engines,
) -> None:
    admin = people.api("alice")
    invite = admin.create_invite(role=None, for_handle="bob")
    with pytest.raises(InvalidInput, match="adds a device for @bob"):
        people.api_for_key(SigningKey.generate()).enroll(invite_code=invite.code, handle="mallory")
    assert "mallory" not in {u.handle for u in admin.list_users()}
    with pytest.raises(NotFound, match="no user @nobody"):
        admin.create_invite(role=None, for_handle="nobody")
    with pytest.raises(InvalidInput, match="carries their role"):
        admin.create_invite(role=Role.ADMIN, for_handle="bob")
    with pytest.raises(PermissionDenied):
        people.api("bob").create_invite(role=None, for_handle="bob")


def test_after_a_key_rotation_the_old_key_is_refused_and_the_new_one_works(
    people: Engines,
) -> None:
    bob = people.api("bob")
    old, new = people.wallet.keys["bob"], SigningKey.generate()

    rotation = bob.rotate_key(new)

    assert (rotation.revoked_key_id, rotation.new_key.key_id) == (old.key_id, new.key_id)
    with pytest.raises(Unauthenticated, match="revoked"):
        people.api_for_key(old).balances()
    assert people.api_for_key(new).account().key_id == new.key_id
    assert bob.account().key_id == new.key_id  # the rotating client now signs with the new key
    assert {k.key_id: k.revoked for k in bob.list_keys()} == {old.key_id: True, new.key_id: False}


# --- the gRPC face: one signed request, two transports -------------------------------------


def envelope(key: SigningKey, rpc: str, body: bytes, *, timestamp_ms: int) -> pb.SignedRequest:
    """What SignedClient._call sends: `body` signed for `rpc` with a fresh nonce."""
    nonce = os.urandom(16)
    signature = key.sign(signing_input(method_name(rpc), key.key_id, timestamp_ms, nonce, body))
    return pb.SignedRequest(
        body=body, key_id=key.key_id, timestamp_ms=timestamp_ms, nonce=nonce, signature=signature
    )


def wrapped(rpc: str, signed: pb.SignedRequest) -> Message:
    request_type: Callable[..., Message] = METHODS[method_name(rpc)].request_type
    return request_type(signed=signed)


@pytest.fixture
def served_people(served: Served) -> Served:
    """The served wallet, with @bob paid 12.34 DBL by @alice as pay-same-01."""
    served.wallet.add_user("bob")
    served.wallet.mint("alice", 10_000, payment_id="mint-alice-01")
    served.wallet.client("alice").pay(
        payment_id="pay-same-01", recipient="bob", amount_minor=1_234, currency=DBL, memo="same"
    )
    return served


@pytest.mark.parametrize(
    ("rpc", "body", "response_type"),
    [
        ("GetBalances", pb.GetBalancesRequest.Body(), pb.GetBalancesResponse),
        ("GetAccount", pb.GetAccountRequest.Body(), pb.GetAccountResponse),
        (
            "GetTransactionHistory",
            pb.TransactionHistoryRequest.Body(limit=10, include_details=True),
            pb.TransactionHistoryResponse,
        ),
        (
            "GetTransaction",
            pb.GetTransactionRequest.Body(id="pay-same-01"),
            pb.GetTransactionResponse,
        ),
    ],
)
def test_the_same_signed_request_gets_the_same_answer_locally_and_over_grpc(
    served_people: Served, rpc: str, body: Message, response_type: type[Message]
) -> None:
    key, engine = served_people.wallet.keys["alice"], served_people.wallet.engine
    raw, now = body.SerializeToString(), engine.clock()
    remote = GrpcTransport(served_people.target)

    local_answer = engine.dispatch(
        method_name(rpc), wrapped(rpc, envelope(key, rpc, raw, timestamp_ms=now))
    )
    # The same body and timestamp; only the nonce differs, or the engine would see a replay.
    remote_answer = remote.call(
        method_name(rpc), wrapped(rpc, envelope(key, rpc, raw, timestamp_ms=now)), response_type
    )
    remote.close()

    assert isinstance(local_answer, response_type)
    assert remote_answer == local_answer
    assert local_answer.ByteSize() > 0


def test_an_envelope_accepted_in_process_is_a_replay_over_grpc(served_people: Served) -> None:
    key, engine = served_people.wallet.keys["alice"], served_people.wallet.engine
    signed = envelope(
        key,
        "GetBalances",
        pb.GetBalancesRequest.Body().SerializeToString(),
        timestamp_ms=engine.clock(),
    )
    engine.dispatch(method_name("GetBalances"), wrapped("GetBalances", signed))
    remote = GrpcTransport(served_people.target)

    with pytest.raises(Unauthenticated, match="replayed"):
        remote.call(
            method_name("GetBalances"), wrapped("GetBalances", signed), pb.GetBalancesResponse
        )
    remote.close()


def test_a_payment_signed_once_and_sent_both_ways_is_made_once(served_people: Served) -> None:
    key, engine = served_people.wallet.keys["alice"], served_people.wallet.engine
    rpc = "ProcessPayment"
    raw = pb.PaymentRequest.Body(
        payment_id="pay-both-01", recipient="bob", amount_minor=500, currency=DBL
    ).SerializeToString()
    remote = GrpcTransport(served_people.target)

    local_answer = engine.dispatch(
        method_name(rpc), wrapped(rpc, envelope(key, rpc, raw, timestamp_ms=engine.clock()))
    )
    remote_answer = remote.call(
        method_name(rpc),
        wrapped(rpc, envelope(key, rpc, raw, timestamp_ms=engine.clock())),
        pb.PaymentResponse,
    )
    remote.close()

    assert isinstance(local_answer, pb.PaymentResponse)
    assert (local_answer.replayed, remote_answer.replayed) == (False, True)
    assert remote_answer.transaction == local_answer.transaction
    assert balances(served_people.wallet.client("bob")) == [BalanceView(DBL, 1_234 + 500)]


# --- the gRPC face: refusals, health ------------------------------------------------------


def _unsigned(_key: SigningKey, _now: int) -> pb.GetBalancesRequest:
    return pb.GetBalancesRequest()


def _badly_signed(key: SigningKey, now: int) -> pb.GetBalancesRequest:
    good = envelope(key, "GetBalances", b"", timestamp_ms=now)
    forged = pb.SignedRequest()
    forged.CopyFrom(good)
    forged.signature = bytes(64)
    return pb.GetBalancesRequest(signed=forged)


@pytest.mark.parametrize(
    ("make_request", "why"),
    [
        pytest.param(_unsigned, "not signed", id="unsigned"),
        pytest.param(_badly_signed, "signature does not verify", id="badly-signed"),
    ],
)
def test_a_raw_call_without_a_valid_signature_is_unauthenticated_and_says_why(
    served: Served,
    make_request: Callable[[SigningKey, int], pb.GetBalancesRequest],
    why: str,
) -> None:
    request = make_request(served.wallet.keys["alice"], served.wallet.engine.clock())
    with grpc.insecure_channel(served.target) as channel:
        get_balances = channel.unary_unary(
            f"/{SERVICE}/GetBalances",
            request_serializer=pb.GetBalancesRequest.SerializeToString,
            response_deserializer=pb.GetBalancesResponse.FromString,
        )

        with pytest.raises(grpc.RpcError) as caught:
            get_balances(request, timeout=10)

    error = caught.value
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert why in error.details()
    status = rpc_status.from_call(error)
    assert status is not None
    infos = []
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        assert detail.Unpack(info)
        infos.append((info.reason, info.domain))
    assert infos == [("unauthenticated", ERROR_DOMAIN)]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\xff\xff\xff", id="not-protobuf"),
        pytest.param(b"\x0a\x05abc", id="truncated"),
    ],
)
def test_request_bytes_that_are_not_the_message_are_invalid_argument_not_internal(
    served: Served, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with grpc.insecure_channel(served.target) as channel:
        process_payment = channel.unary_unary(f"/{SERVICE}/ProcessPayment")  # raw bytes

        with pytest.raises(grpc.RpcError) as caught:
            process_payment(body, timeout=10)

    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid cpay.v1.PaymentRequest message" in error.details()
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.reason == "invalid_input"
    # Answered as the client's mistake: nothing logged as a server error, no traceback.
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("service", ["", SERVICE])
def test_the_health_service_reports_serving(served: Served, service: str) -> None:
    with grpc.insecure_channel(served.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)

    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# --- the gRPC face: retries ----------------------------------------------------------------


def stopped_server_port(wallet: Wallet) -> int:
    """A port a CPay server listened on a moment ago and no longer does."""
    server = start_server(wallet.engine, "127.0.0.1:0")
    server.stop()
    return server.port


def retrying_client(wallet: Wallet, port: int, sleep: Callable[[float], None]) -> SignedClient:
    return SignedClient(
        GrpcTransport(f"127.0.0.1:{port}"),
        wallet.keys["alice"],
        retry=RetryPolicy(attempts=3),
        sleep=sleep,
    )


def test_a_payment_to_a_stopped_server_is_unavailable_and_says_nothing_was_sent(
    wallet: Wallet,
) -> None:
    """A connection refused is not an unknown outcome: the call never left the client."""
    wallet.add_user("bob")
    delays: list[float] = []
    client = retrying_client(wallet, stopped_server_port(wallet), delays.append)

    with pytest.raises(Unavailable) as caught:
        client.pay(payment_id="pay-lost-01", recipient="bob", amount_minor=100, currency=DBL)
    client.close()

    assert not isinstance(caught.value, OutcomeUnknown)
    assert "nothing was sent" in caught.value.message
    assert "maybe_sent" not in caught.value.details
    assert len(delays) == 2  # three attempts, two waits between them
    assert all(0 <= d <= RetryPolicy().max_delay_s for d in delays)
    with pytest.raises(NotFound):  # nothing reached the engine
        wallet.client("alice").transaction("pay-lost-01")


def test_a_server_on_a_port_already_in_use_is_refused_saying_so(wallet: Wallet) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises(InvalidInput, match=f"cannot listen on 127.0.0.1:{port}: the port"):
            start_server(wallet.engine, f"127.0.0.1:{port}")


class _SlowPayments:
    """The engine, except that a payment is applied only after the client's deadline."""

    def __init__(self, engine: Engine, delay_s: float) -> None:
        self.engine, self.delay_s = engine, delay_s
        self.applied = threading.Event()

    def dispatch(self, method: str, request: Message) -> Message:
        if method != method_name("ProcessPayment"):
            return self.engine.dispatch(method, request)
        time.sleep(self.delay_s)
        try:
            return self.engine.dispatch(method, request)
        finally:
            self.applied.set()


def test_a_payment_sent_but_unanswered_in_time_is_outcome_unknown_and_show_resolves_it(
    wallet: Wallet,
) -> None:
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    slow = _SlowPayments(wallet.engine, delay_s=1.0)
    server = start_server(cast(Engine, slow), "127.0.0.1:0")
    client = SignedClient(
        GrpcTransport(f"127.0.0.1:{server.port}", timeout_s=0.3), wallet.keys["alice"]
    )
    try:
        with pytest.raises(OutcomeUnknown) as caught:
            client.pay(payment_id="pay-slow-01", recipient="bob", amount_minor=100, currency=DBL)
        assert slow.applied.wait(timeout=10)
        resolved = wallet.client("alice").transaction("pay-slow-01")  # what `cpay show` asks
    finally:
        client.close()
        server.stop()

    assert caught.value.details["payment_id"] == "pay-slow-01"
    assert "may or may not have been made" in caught.value.message
    assert "cpay show pay-slow-01" in caught.value.message
    assert resolved.status is TxStatus.COMPLETED


class _AnswerLostThenRefused:
    """The first attempt reaches the engine and its answer is lost (the connection reset
    after the server acted); every retry is then refused at connect (the server is gone)."""

    def __init__(self, engine: Engine) -> None:
        self.inner = InProcessTransport(engine)
        self.attempts = 0

    def call(self, method: str, request: Message, response_type: type[R]) -> R:
        self.attempts += 1
        if self.attempts == 1:
            self.inner.call(method, request, response_type)
            raise Unavailable("connection reset by peer", details={"maybe_sent": "1"})
        raise Unavailable("connection refused; nothing was sent: check the server")

    def close(self) -> None:
        pass


def test_a_payment_whose_answer_was_lost_stays_unknown_when_the_retries_cannot_connect(
    wallet: Wallet,
) -> None:
    """A retry refused at connect says nothing about the first attempt: the payment may
    have been made (here it was), so the outcome is unknown, never "nothing was sent"."""
    wallet.add_user("bob")
    wallet.mint("alice", 1_000)
    transport = _AnswerLostThenRefused(wallet.engine)
    client = SignedClient(
        transport, wallet.keys["alice"], retry=RetryPolicy(attempts=3), sleep=lambda _: None
    )

    with pytest.raises(OutcomeUnknown) as caught:
        client.pay(payment_id="pay-reset-01", recipient="bob", amount_minor=100, currency=DBL)

    assert transport.attempts == 3
    assert "may or may not have been made" in caught.value.message
    assert "connection reset by peer" in caught.value.message
    assert "nothing was sent" not in caught.value.message
    assert wallet.client("alice").transaction("pay-reset-01").status is TxStatus.COMPLETED


def test_a_read_from_a_stopped_server_ends_as_unavailable(wallet: Wallet) -> None:
    delays: list[float] = []
    port = stopped_server_port(wallet)
    client = retrying_client(wallet, port, delays.append)

    with pytest.raises(Unavailable) as caught:
        client.balances()
    client.close()

    assert f"127.0.0.1:{port}" in caught.value.message
    assert len(delays) == 2


def test_a_payment_retried_after_the_server_restarts_on_its_port_is_made_once(
    wallet: Wallet,
) -> None:
    wallet.add_user("bob")
    wallet.mint("alice", 10_000)
    port = stopped_server_port(wallet)
    delays: list[float] = []
    restarted: list[RunningServer] = []

    def sleep_and_restart(delay: float) -> None:
        delays.append(delay)
        if not restarted:
            restarted.append(start_server(wallet.engine, f"127.0.0.1:{port}"))

    client = retrying_client(wallet, port, sleep_and_restart)
    try:
        result = client.pay(
            payment_id="pay-back-01", recipient="bob", amount_minor=2_500, currency=DBL
        )
        history = client.history(limit=50)
    finally:
        client.close()
        for server in restarted:
            server.stop()

    assert len(restarted) == 1
    assert (result.replayed, result.transaction.status) == (False, TxStatus.COMPLETED)
    assert [t.id for t in history.transactions].count("pay-back-01") == 1
    assert balances(wallet.client("bob")) == [BalanceView(DBL, 2_500)]
