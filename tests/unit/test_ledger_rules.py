"""Ledger rules through a real wallet: insufficient funds, idempotency, ownership, history
paging and filters, and a ledger that notices when its database is tampered with."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from cpay_engine.api import PaymentResult, TransactionView
from cpay_engine.client import SignedClient
from cpay_engine.domain.model import Direction, Role, TxKind, TxStatus
from cpay_engine.domain.money import MAX_BALANCE_MINOR
from cpay_engine.domain.query import HistoryFilter, parse_query
from cpay_engine.errors import (
    FailedPrecondition,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
)
from tests.support import Clock, Wallet


@contextmanager
def database(path: Path) -> Iterator[sqlite3.Connection]:
    """A direct connection to the wallet file, committed and closed on exit."""
    with closing(sqlite3.connect(path)) as db, db:
        yield db


ROW_COUNTS = {
    "transactions": "SELECT count(*) FROM transactions",
    "postings": "SELECT count(*) FROM postings",
    "receipts": "SELECT count(*) FROM transactions WHERE receipt_signature IS NOT NULL",
    "audit_log": "SELECT count(*) FROM audit_log",
}


def row_counts(wallet: Wallet) -> dict[str, int]:
    with database(wallet.path) as db:
        return {name: db.execute(query).fetchone()[0] for name, query in ROW_COUNTS.items()}


def dbl(client: SignedClient) -> int:
    [balance] = client.balances("DBL")
    return balance.available_minor


@dataclass(frozen=True)
class Order:
    """A Dabloon payment order; `replace` it to vary one field."""

    payment_id: str = "pay-order-001"
    recipient: str = "carol"
    amount_minor: int = 1_250
    memo: str = "lunch"
    currency: str = "DBL"

    def send(self, client: SignedClient) -> PaymentResult:
        return client.pay(
            payment_id=self.payment_id,
            recipient=self.recipient,
            amount_minor=self.amount_minor,
            currency=self.currency,
            memo=self.memo,
        )


@pytest.fixture
def funded(wallet: Wallet) -> Wallet:
    """@bob holds 50.00 DBL; @carol and @dave hold nothing; @alice is the admin."""
    wallet.add_user("bob")
    wallet.add_user("carol")
    wallet.add_user("dave")
    wallet.mint("bob", 5_000, payment_id="mint-for-bob")
    return wallet


# --- insufficient funds ------------------------------------------------------------------


def test_payment_exceeding_balance_is_rejected_recorded_as_failed_and_nothing_is_posted(
    funded: Wallet,
) -> None:
    bob, carol = funded.client("bob"), funded.client("carol")
    before = row_counts(funded)
    with pytest.raises(InsufficientFunds) as caught:
        bob.pay(payment_id="pay-too-much1", recipient="carol", amount_minor=5_001, currency="DBL")
    assert caught.value.details["payment_id"] == "pay-too-much1"
    assert "50.01 DBL" in caught.value.message
    assert (dbl(bob), dbl(carol)) == (5_000, 0)
    after = row_counts(funded)
    assert after["transactions"] == before["transactions"] + 1
    assert after["postings"] == before["postings"]
    assert after["receipts"] == before["receipts"]
    assert after["audit_log"] == before["audit_log"] + 1
    failed = bob.transaction("pay-too-much1")
    assert failed.status is TxStatus.FAILED
    assert failed.failure_code == "insufficient_funds"
    assert failed.postings == ()
    assert failed.receipt is None
    assert [t.id for t in carol.history().transactions] == []
    assert funded.client("alice").verify_ledger().ok


def _shift_balances(wallet: Wallet, handle: str, minor: int) -> None:
    """Move `minor` from the treasury to `handle` behind the engine's back (the sum stays
    zero): a state that would otherwise take ~1,000 maximal mints to reach."""
    with database(wallet.path) as db:
        moved = db.execute(
            "UPDATE accounts SET balance_minor = balance_minor + ? WHERE user_id = "
            "(SELECT id FROM users WHERE handle = ?)",
            (minor, handle),
        )
        assert moved.rowcount == 1
        db.execute(
            "UPDATE accounts SET balance_minor = balance_minor - ? WHERE name = 'treasury:DBL'",
            (minor,),
        )


def test_no_move_takes_a_balance_past_the_largest_either_way(funded: Wallet) -> None:
    """Stores keep 64-bit balances and SQLite would turn an overflowing sum into a float."""
    funded.mint("carol", 1)  # opens her account
    _shift_balances(funded, "carol", MAX_BALANCE_MINOR - 4_001)  # bob still holds 5,000
    bob = funded.client("bob")
    before = row_counts(funded)

    with pytest.raises(FailedPrecondition, match="the treasury can mint no more: CPay keeps"):
        funded.mint("dave", 1)
    with pytest.raises(FailedPrecondition, match="@carol's DBL balance would pass"):
        bob.pay(
            payment_id="pay-over-the-top", recipient="carol", amount_minor=4_001, currency="DBL"
        )
    assert row_counts(funded) == before  # refused before anything was written

    bob.pay(payment_id="pay-to-the-top", recipient="carol", amount_minor=4_000, currency="DBL")
    [carol] = funded.client("carol").balances("DBL")
    assert carol.available_minor == MAX_BALANCE_MINOR  # exactly the bound is allowed


def test_a_payer_with_no_dabloon_account_cannot_pay(funded: Wallet) -> None:
    with pytest.raises(InsufficientFunds):
        funded.client("carol").pay(
            payment_id="pay-empty-001", recipient="dave", amount_minor=1, currency="DBL"
        )
    assert dbl(funded.client("dave")) == 0


def test_paying_the_whole_balance_leaves_exactly_zero(funded: Wallet) -> None:
    bob = funded.client("bob")
    bob.pay(payment_id="pay-all-00001", recipient="carol", amount_minor=5_000, currency="DBL")
    assert (dbl(bob), dbl(funded.client("carol"))) == (0, 5_000)


# --- idempotency -------------------------------------------------------------------------


def test_replaying_the_same_payment_returns_the_original_without_moving_money_twice(
    funded: Wallet,
) -> None:
    bob = funded.client("bob")
    first = Order().send(bob)
    counts = row_counts(funded)
    again = Order().send(bob)
    assert not first.replayed
    assert again.replayed
    assert again.transaction == first.transaction
    assert again.transaction.receipt is not None
    assert (dbl(bob), dbl(funded.client("carol"))) == (3_750, 1_250)
    assert row_counts(funded) == counts


def test_a_replay_may_spell_the_recipient_and_currency_differently(funded: Wallet) -> None:
    bob = funded.client("bob")
    first = bob.pay(payment_id="pay-spell-001", recipient="carol", amount_minor=10, currency="DBL")
    again = bob.pay(payment_id="pay-spell-001", recipient="@Carol", amount_minor=10, currency="dbl")
    assert again.replayed
    assert again.transaction.seq == first.transaction.seq
    assert dbl(bob) == 4_990


@pytest.mark.parametrize(
    ("field", "changed"),
    [
        ("amount", Order(amount_minor=1_251)),
        ("recipient", Order(recipient="dave")),
        ("memo", Order(memo="dinner")),
        ("memo", Order(memo="")),
    ],
)
def test_the_same_id_with_different_content_is_a_conflict_naming_the_field(
    funded: Wallet, field: str, changed: Order
) -> None:
    bob = funded.client("bob")
    Order().send(bob)
    counts = row_counts(funded)
    with pytest.raises(IdempotencyConflict) as caught:
        changed.send(bob)
    assert caught.value.details["field"] == field
    assert caught.value.details["payment_id"] == Order().payment_id
    assert f"different {field}" in caught.value.message
    assert row_counts(funded) == counts
    assert (dbl(bob), dbl(funded.client("carol")), dbl(funded.client("dave"))) == (3_750, 1_250, 0)


def test_a_payment_id_used_by_someone_else_is_a_conflict(funded: Wallet) -> None:
    funded.mint("carol", 1_000)
    funded.client("bob").pay(
        payment_id="pay-shared-01", recipient="dave", amount_minor=100, currency="DBL"
    )
    with pytest.raises(IdempotencyConflict) as caught:
        funded.client("carol").pay(
            payment_id="pay-shared-01", recipient="dave", amount_minor=100, currency="DBL"
        )
    assert caught.value.details["field"] == "payment_id"
    assert (dbl(funded.client("carol")), dbl(funded.client("dave"))) == (1_000, 100)


def test_a_mint_reusing_a_payment_id_is_a_conflict_on_kind(funded: Wallet) -> None:
    funded.mint("alice", 1_000)
    alice = funded.client("alice")
    alice.pay(payment_id="pay-or-mint-1", recipient="bob", amount_minor=100, currency="DBL")
    with pytest.raises(IdempotencyConflict) as caught:
        alice.mint(payment_id="pay-or-mint-1", recipient="bob", amount_minor=100, currency="DBL")
    assert caught.value.details["field"] == "kind"
    assert dbl(funded.client("bob")) == 5_100


def test_replaying_a_failed_payment_fails_again_even_after_funds_arrive(funded: Wallet) -> None:
    carol = funded.client("carol")
    with pytest.raises(InsufficientFunds):
        carol.pay(payment_id="pay-early-001", recipient="dave", amount_minor=700, currency="DBL")
    funded.mint("carol", 1_000)
    counts = row_counts(funded)
    with pytest.raises(InsufficientFunds) as caught:
        carol.pay(payment_id="pay-early-001", recipient="dave", amount_minor=700, currency="DBL")
    assert caught.value.details["payment_id"] == "pay-early-001"
    assert (dbl(carol), dbl(funded.client("dave"))) == (1_000, 0)
    assert row_counts(funded) == counts
    assert carol.transaction("pay-early-001").status is TxStatus.FAILED
    # a new id goes through
    carol.pay(payment_id="pay-later-001", recipient="dave", amount_minor=700, currency="DBL")
    assert (dbl(carol), dbl(funded.client("dave"))) == (300, 700)


def test_replaying_a_mint_does_not_mint_twice(funded: Wallet) -> None:
    funded.mint("dave", 300, payment_id="mint-dave-001")
    funded.mint("dave", 300, payment_id="mint-dave-001")
    assert dbl(funded.client("dave")) == 300


# --- input and ownership -----------------------------------------------------------------


def test_paying_yourself_is_invalid_input(funded: Wallet) -> None:
    with pytest.raises(InvalidInput, match="yourself"):
        funded.client("bob").pay(
            payment_id="pay-self-0001", recipient="@bob", amount_minor=1, currency="DBL"
        )
    assert dbl(funded.client("bob")) == 5_000


def test_paying_an_unknown_handle_is_not_found(funded: Wallet) -> None:
    before = row_counts(funded)
    with pytest.raises(NotFound, match="@zed"):
        funded.client("bob").pay(
            payment_id="pay-nobody-01", recipient="zed", amount_minor=1, currency="DBL"
        )
    assert row_counts(funded) == before


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY", "XXX", ""])
def test_a_payment_in_anything_but_dabloons_is_invalid_input(funded: Wallet, currency: str) -> None:
    before = row_counts(funded)
    with pytest.raises(InvalidInput):
        funded.client("bob").pay(
            payment_id="pay-fiat-0001", recipient="carol", amount_minor=100, currency=currency
        )
    assert row_counts(funded) == before


@pytest.mark.parametrize(
    "order",
    [
        Order(payment_id="short"),
        Order(payment_id=""),
        Order(payment_id="pay with spaces"),
        Order(amount_minor=0),
        Order(amount_minor=-5),
        Order(amount_minor=10**15 + 1),
        Order(recipient="c"),
        Order(recipient="treasury"),
        Order(memo="x" * 281),
        Order(memo="nul\x00byte"),
    ],
    ids=repr,
)
def test_malformed_payment_fields_are_invalid_input(funded: Wallet, order: Order) -> None:
    before = row_counts(funded)
    with pytest.raises(InvalidInput):
        order.send(funded.client("bob"))
    assert row_counts(funded) == before


def test_someone_elses_transaction_is_not_found_but_admins_and_auditors_see_it(
    funded: Wallet,
) -> None:
    funded.add_user("audrey", Role.AUDITOR)
    funded.client("bob").pay(
        payment_id="pay-private-1", recipient="carol", amount_minor=400, currency="DBL"
    )
    with pytest.raises(NotFound):
        funded.client("dave").transaction("pay-private-1")
    with pytest.raises(NotFound):
        funded.client("dave").transaction("pay-does-not-exist")
    seen_by_bob = funded.client("bob").transaction("pay-private-1")
    seen_by_carol = funded.client("carol").transaction("pay-private-1")
    seen_by_admin = funded.client("alice").transaction("pay-private-1")
    seen_by_auditor = funded.client("audrey").transaction("pay-private-1")
    assert (seen_by_bob.direction, seen_by_bob.counterparty) == (Direction.OUT, "carol")
    assert (seen_by_carol.direction, seen_by_carol.counterparty) == (Direction.IN, "bob")
    for view in (seen_by_admin, seen_by_auditor):
        assert (view.id, view.amount_minor, view.from_handle, view.to_handle) == (
            "pay-private-1",
            400,
            "bob",
            "carol",
        )
        assert view.postings == seen_by_bob.postings


def test_a_completed_payment_carries_balanced_postings_and_a_receipt(funded: Wallet) -> None:
    result = funded.client("bob").pay(
        payment_id="pay-postings1", recipient="carol", amount_minor=321, currency="DBL"
    )
    tx = result.transaction
    assert tx.kind is TxKind.PAYMENT
    assert tx.status is TxStatus.COMPLETED
    assert [(p.account, p.amount_minor) for p in tx.postings] == [
        ("@bob:DBL", -321),
        ("@carol:DBL", 321),
    ]
    assert tx.receipt is not None
    account = funded.client("bob").account()
    assert tx.receipt.key_id in {k.key_id for k in account.engine_keys}


# --- history -----------------------------------------------------------------------------


def make_traffic(wallet: Wallet, count: int) -> list[str]:
    """`count` payments touching @bob, alternating directions; returns ids oldest first."""
    wallet.mint("carol", 100_000)
    ids = []
    for n in range(count):
        payment_id = f"pay-page-{n:04d}"
        if n % 2:
            wallet.client("carol").pay(
                payment_id=payment_id, recipient="bob", amount_minor=100 + n, currency="DBL"
            )
        else:
            wallet.client("bob").pay(
                payment_id=payment_id, recipient="carol", amount_minor=100 + n, currency="DBL"
            )
        ids.append(payment_id)
    return ids


def all_pages(
    client: SignedClient, limit: int, query: HistoryFilter | None = None
) -> list[list[TransactionView]]:
    pages: list[list[TransactionView]] = []
    cursor = ""
    while True:
        page = client.history(limit=limit, before_cursor=cursor, filter=query)
        pages.append(list(page.transactions))
        if not page.next_cursor:
            return pages
        assert len(pages) < 100, "history paging does not terminate"
        cursor = page.next_cursor


@pytest.mark.parametrize(("count", "limit"), [(23, 5), (20, 5), (3, 50), (7, 1)])
def test_history_pages_cover_everything_exactly_once_newest_first(
    funded: Wallet, count: int, limit: int
) -> None:
    payment_ids = make_traffic(funded, count)
    pages = all_pages(funded.client("bob"), limit)
    assert all(len(page) <= limit for page in pages)
    assert all(len(page) == limit for page in pages[:-1])
    seen = [t for page in pages for t in page]
    seqs = [t.seq for t in seen]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == len(seqs)
    # the mint that funded bob is part of his history too
    ids = [t.id for t in seen]
    assert ids[: len(payment_ids)] == list(reversed(payment_ids))
    assert len(ids) == count + 1
    assert seen[-1].kind is TxKind.MINT


def test_history_rejects_a_foreign_cursor_and_an_out_of_range_limit(funded: Wallet) -> None:
    bob = funded.client("bob")
    with pytest.raises(InvalidInput, match="cursor"):
        bob.history(before_cursor="not-a-cursor")
    with pytest.raises(InvalidInput, match="limit"):
        bob.history(limit=501)


@pytest.fixture
def varied(funded: Wallet, clock: Clock) -> Wallet:
    """@bob's history: several counterparties, directions, amounts, memos and a failure."""
    funded.mint("carol", 10_000)
    bob, carol, dave = funded.client("bob"), funded.client("carol"), funded.client("dave")

    def pay(client: SignedClient, payment_id: str, to: str, amount: int, memo: str = "") -> None:
        client.pay(
            payment_id=payment_id, recipient=to, amount_minor=amount, currency="DBL", memo=memo
        )

    pay(bob, "h-rent-carol", "carol", 1_500, "rent march")
    clock.advance(60_000)
    pay(carol, "h-refund-crl", "bob", 200, "refund 50%_off")
    clock.advance(60_000)
    pay(bob, "h-lunch-dave", "dave", 900, "lunch")
    clock.advance(60_000)
    with pytest.raises(InsufficientFunds):
        pay(bob, "h-huge-dave1", "dave", 99_999, "rent april")
    pay(dave, "h-dave-back1", "bob", 50)
    return funded


def history_ids(wallet: Wallet, query: str, clock: Clock) -> list[str]:
    page = wallet.client("bob").history(filter=parse_query(query, clock()))
    return [t.id for t in page.transactions]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("@carol", ["h-refund-crl", "h-rent-carol"]),
        ("with:dave", ["h-dave-back1", "h-huge-dave1", "h-lunch-dave"]),
        ("status:failed", ["h-huge-dave1"]),
        ("status:completed out", ["h-lunch-dave", "h-rent-carol"]),
        ("in", ["h-dave-back1", "h-refund-crl", "mint-for-bob"]),
        ("out @dave", ["h-huge-dave1", "h-lunch-dave"]),
        ("amount:2..15", ["h-lunch-dave", "h-refund-crl", "h-rent-carol"]),
        ("amount:>9", ["h-huge-dave1", "h-rent-carol", "mint-for-bob"]),  # strictly more
        ("amount:>=9", ["h-huge-dave1", "h-lunch-dave", "h-rent-carol", "mint-for-bob"]),
        ("amount:<2", ["h-dave-back1"]),  # strictly less
        ("amount:<=2", ["h-dave-back1", "h-refund-crl"]),
        ("amount:>1 amount:<15", ["h-lunch-dave", "h-refund-crl"]),  # bounds combine
        ("amount:9", ["h-lunch-dave"]),
        ("rent", ["h-huge-dave1", "h-rent-carol"]),
        ("rent march", ["h-rent-carol"]),
        ("RENT", ["h-huge-dave1", "h-rent-carol"]),
        ("car", ["h-refund-crl", "h-rent-carol"]),
        ("50%_off", ["h-refund-crl"]),
        ("%", ["h-refund-crl"]),
        ("_", ["h-refund-crl"]),
        ("status:failed @carol", []),
        ("currency:USD", []),
        ("before:1900-01-01", []),  # older than the epoch: nothing, not "no bound"
        ("after:1900-01-01 @dave", ["h-dave-back1", "h-huge-dave1", "h-lunch-dave"]),
        ("after:999999w @dave", ["h-dave-back1", "h-huge-dave1", "h-lunch-dave"]),
    ],
)
def test_history_filters_select_exactly_the_matching_transactions(
    varied: Wallet, clock: Clock, query: str, expected: list[str]
) -> None:
    ids = history_ids(varied, query, clock)
    assert sorted(ids) == sorted(expected)


def test_history_time_filters_select_by_creation_time(varied: Wallet, clock: Clock) -> None:
    # created: mint and rent at t0, refund at t0+1m, lunch at t0+2m, the rest at t0+3m (now)
    assert sorted(history_ids(varied, "after:2m before:1m", clock)) == ["h-refund-crl"]
    assert sorted(history_ids(varied, "before:2m", clock)) == ["h-rent-carol", "mint-for-bob"]
    assert sorted(history_ids(varied, "after:1m", clock)) == [
        "h-dave-back1",
        "h-huge-dave1",
        "h-lunch-dave",
    ]


def test_filtered_history_pages_keep_the_filter(varied: Wallet) -> None:
    bob = varied.client("bob")
    only_in = parse_query("in", 0)
    first = bob.history(limit=2, filter=only_in)
    second = bob.history(limit=2, before_cursor=first.next_cursor, filter=only_in)
    assert [t.id for t in first.transactions] == ["h-dave-back1", "h-refund-crl"]
    assert [t.id for t in second.transactions] == ["mint-for-bob"]
    assert second.next_cursor == ""


# --- tamper evidence ---------------------------------------------------------------------


def test_a_clean_ledger_verifies(funded: Wallet) -> None:
    funded.client("bob").pay(
        payment_id="pay-clean-001", recipient="carol", amount_minor=10, currency="DBL"
    )
    report = funded.client("alice").verify_ledger()
    assert report.ok
    assert report.problems == ()
    assert report.scope == "ledger"
    assert report.transactions_checked == 2
    assert report.receipts_checked == 2
    assert report.audit_entries_checked == row_counts(funded)["audit_log"]


def test_an_account_balance_edited_in_the_database_is_reported(funded: Wallet) -> None:
    with database(funded.path) as db:
        db.execute(
            "UPDATE accounts SET balance_minor = balance_minor + 1 "
            "WHERE user_id = (SELECT id FROM users WHERE handle = 'bob')"
        )
    report = funded.client("alice").verify_ledger()
    assert not report.ok
    assert any("balance 5001 but postings sum to 5000" in p for p in report.problems)
    own = funded.client("bob").verify_ledger()
    assert own.scope == "own"
    assert any("postings sum to 5000" in p for p in own.problems)
    assert funded.client("carol").verify_ledger().ok


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE postings SET amount_minor = amount_minor + 1", "postings are immutable"),
        ("DELETE FROM postings", "postings are immutable"),
        ("UPDATE transactions SET receipt_signature = zeroblob(64)", "receipts are immutable"),
        ("UPDATE transactions SET receipt_key_id = NULL", "receipts are immutable"),
        ("DELETE FROM transactions", "transactions are never deleted"),
        ("UPDATE audit_log SET details = '{}'", "the audit log is append-only"),
        ("DELETE FROM audit_log", "the audit log is append-only"),
    ],
)
def test_history_tables_refuse_updates_and_deletes(
    funded: Wallet, statement: str, message: str
) -> None:
    before = row_counts(funded)
    with pytest.raises(sqlite3.DatabaseError, match=message), database(funded.path) as db:
        db.execute(statement)
    assert row_counts(funded) == before
    assert funded.client("alice").verify_ledger().ok


TAMPERED_SEQ = "(SELECT seq FROM transactions WHERE id = 'pay-tamper-01')"
NOT_VERIFIED = (
    "receipt of pay-tamper-01 does not verify: the transaction or its postings changed "
    "after it was signed, or the signature did"
)


def tamper(wallet: Wallet, *statements: str) -> None:
    """Drop the immutability triggers and run `statements`, as anyone holding the file can."""
    with database(wallet.path) as db:
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall():
            db.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            db.execute(statement)


def problems_after(wallet: Wallet, *statements: str) -> tuple[str, ...]:
    wallet.client("bob").pay(
        payment_id="pay-tamper-01", recipient="carol", amount_minor=700, currency="DBL", memo="tea"
    )
    assert wallet.client("alice").verify_ledger().ok
    tamper(wallet, *statements)
    return wallet.client("alice").verify_ledger().problems


def test_an_edited_posting_is_reported(funded: Wallet) -> None:
    problems = problems_after(
        funded,
        "UPDATE postings SET amount_minor = -701 WHERE amount_minor < 0 AND seq = "
        "(SELECT seq FROM transactions WHERE id = 'pay-tamper-01')",
    )
    assert "transaction pay-tamper-01 postings do not sum to zero" in problems
    assert any("but postings sum to" in p for p in problems)
    assert NOT_VERIFIED in problems


def test_deleted_postings_are_reported(funded: Wallet) -> None:
    problems = problems_after(
        funded,
        "DELETE FROM postings WHERE seq = " + TAMPERED_SEQ,
    )
    assert any("but postings sum to" in p for p in problems)
    assert NOT_VERIFIED in problems


def test_a_forged_receipt_signature_is_reported(funded: Wallet) -> None:
    problems = problems_after(
        funded,
        "UPDATE transactions SET receipt_signature = zeroblob(64) WHERE id = 'pay-tamper-01'",
    )
    assert problems == (NOT_VERIFIED,)


def test_another_transactions_receipt_does_not_verify_for_this_one(funded: Wallet) -> None:
    problems = problems_after(
        funded,
        "UPDATE transactions SET receipt_signature = (SELECT receipt_signature FROM "
        "transactions WHERE id = 'mint-for-bob') WHERE id = 'pay-tamper-01'",
    )
    assert problems == (NOT_VERIFIED,)


def test_a_receipt_signed_by_an_unknown_engine_key_is_reported(funded: Wallet) -> None:
    problems = problems_after(
        funded,
        "UPDATE transactions SET receipt_key_id = 'ed25519:unknown' WHERE id = 'pay-tamper-01'",
    )
    assert problems == ("receipt of pay-tamper-01 is signed by unknown engine key ed25519:unknown",)


def test_a_deleted_receipt_is_reported(funded: Wallet) -> None:
    problems = problems_after(
        funded,
        "UPDATE transactions SET receipt_key_id = NULL, receipt_signature = NULL "
        "WHERE id = 'pay-tamper-01'",
    )
    assert problems == ("transaction pay-tamper-01 is completed but has no receipt",)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE transactions SET amount_minor = 70",
        "UPDATE transactions SET memo = 'coffee'",
        "UPDATE transactions SET to_handle = 'dave'",
        "UPDATE transactions SET created_at_ms = created_at_ms + 1",
    ],
)
def test_a_rewritten_transaction_row_no_longer_verifies_against_its_receipt(
    funded: Wallet, statement: str
) -> None:
    # no trigger guards these columns: the signature over the rebuilt payload catches it
    problems = problems_after(funded, statement + " WHERE id = 'pay-tamper-01'")
    assert problems == (NOT_VERIFIED,)


def test_a_completed_transaction_marked_failed_is_reported(funded: Wallet) -> None:
    problems = problems_after(
        funded, "UPDATE transactions SET status = 'failed' WHERE id = 'pay-tamper-01'"
    )
    assert "transaction pay-tamper-01 is failed but has postings" in problems


def test_an_edited_audit_entry_is_reported(funded: Wallet) -> None:
    problems = problems_after(
        funded,
        "UPDATE audit_log SET details = replace(details, '700', '7') "
        "WHERE action = 'payment.completed'",
    )
    assert len(problems) == 1
    assert "was altered (hash mismatch)" in problems[0]


def test_a_deleted_audit_entry_breaks_the_chain(funded: Wallet) -> None:
    problems = problems_after(
        funded, "DELETE FROM audit_log WHERE seq = (SELECT min(seq) + 1 FROM audit_log)"
    )
    assert any("does not link to the entry before it" in p for p in problems)


def test_a_rehashed_audit_entry_still_breaks_the_link_to_the_next(funded: Wallet) -> None:
    problems = problems_after(
        funded,
        "UPDATE audit_log SET hash = '"
        + "f" * 64
        + "' WHERE seq = (SELECT min(seq) FROM audit_log)",
    )
    assert any("was altered" in p for p in problems)
    assert any("does not link" in p for p in problems)
