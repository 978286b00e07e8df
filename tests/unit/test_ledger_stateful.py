"""A Hypothesis state machine drives a real wallet with mints, payments (some beyond the
payer's balance) and replays, and checks it against a plain Python model after every step:
the same balances, money conserved, no user negative, and a ledger that verifies."""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from cpay_engine.api import PaymentResult
from cpay_engine.client import SignedClient
from cpay_engine.domain.model import TxKind, TxStatus
from cpay_engine.errors import IdempotencyConflict, InsufficientFunds
from tests.support import Wallet

USERS = ("bob", "carol", "dave", "erin")
MEMOS = ("", "rent", "lunch")


@dataclass(frozen=True)
class Sent:
    """A payment or mint as the model remembers it."""

    kind: TxKind
    payment_id: str
    initiator: str
    recipient: str
    amount_minor: int
    memo: str
    completed: bool
    seq: int


class LedgerMatchesAModel(RuleBasedStateMachine):
    sent = Bundle("sent")

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.wallet = Wallet.create(Path(self.tmp.name) / "wallet.db")
        self.clients: dict[str, SignedClient] = {"alice": self.wallet.client("alice")}
        for handle in USERS:
            self.clients[handle] = self.wallet.add_user(handle)
        self.balances = dict.fromkeys(USERS, 0)
        self.minted = 0
        self.next_id = 0

    def teardown(self) -> None:
        self.wallet.close()
        self.tmp.cleanup()

    def new_id(self) -> str:
        self.next_id += 1
        return f"pay-{self.next_id:06d}"

    def send(self, s: Sent) -> PaymentResult:
        client = self.clients[s.initiator]
        order = client.mint if s.kind is TxKind.MINT else client.pay
        return order(
            payment_id=s.payment_id,
            recipient=s.recipient,
            amount_minor=s.amount_minor,
            currency="DBL",
            memo=s.memo,
        )

    # --- rules ---------------------------------------------------------------------------

    @rule(target=sent, to=st.sampled_from(USERS), amount=st.integers(1, 5_000))
    def mint(self, to: str, amount: int) -> Sent:
        s = Sent(TxKind.MINT, self.new_id(), "alice", to, amount, "", True, 0)
        result = self.send(s)
        assert not result.replayed
        assert result.transaction.status is TxStatus.COMPLETED
        self.balances[to] += amount
        self.minted += amount
        return replace(s, seq=result.transaction.seq)

    @rule(
        target=sent,
        parties=st.permutations(USERS),
        amount=st.integers(1, 3_000),
        memo=st.sampled_from(MEMOS),
    )
    def pay(self, parties: list[str], amount: int, memo: str) -> Sent:
        payer, payee = parties[0], parties[1]
        s = Sent(TxKind.PAYMENT, self.new_id(), payer, payee, amount, memo, False, 0)
        if amount > self.balances[payer]:
            with pytest.raises(InsufficientFunds):
                self.send(s)
            return replace(s, seq=self.clients[payer].transaction(s.payment_id).seq)
        result = self.send(s)
        assert not result.replayed
        assert result.transaction.status is TxStatus.COMPLETED
        self.balances[payer] -= amount
        self.balances[payee] += amount
        return replace(s, completed=True, seq=result.transaction.seq)

    @rule(s=sent)
    def replay_with_the_same_content(self, s: Sent) -> None:
        if not s.completed:
            with pytest.raises(InsufficientFunds):
                self.send(s)
            return
        result = self.send(s)
        assert result.replayed
        assert result.transaction.seq == s.seq
        assert result.transaction.amount_minor == s.amount_minor

    @rule(s=sent, field=st.sampled_from(["amount", "recipient", "memo"]))
    def replay_with_different_content(self, s: Sent, field: str) -> None:
        if field == "amount":
            changed = replace(s, amount_minor=s.amount_minor + 1)
        elif field == "recipient":
            others = [h for h in USERS if h not in (s.recipient, s.initiator)]
            changed = replace(s, recipient=others[0])
        else:
            changed = replace(s, memo=s.memo + " again")
        with pytest.raises(IdempotencyConflict) as caught:
            self.send(changed)
        assert caught.value.details["field"] == field

    @rule(s=sent, pick=st.integers(0, len(USERS) - 1))
    def reuse_someone_elses_id(self, s: Sent, pick: int) -> None:
        others = [h for h in USERS if h != s.initiator]
        thief = others[pick % len(others)]
        with pytest.raises(IdempotencyConflict) as caught:
            self.send(replace(s, kind=TxKind.PAYMENT, initiator=thief))
        assert caught.value.details["field"] == "payment_id"

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def engine_balances_match_the_model(self) -> None:
        for handle in USERS:
            [balance] = self.clients[handle].balances("DBL")
            assert balance.available_minor == self.balances[handle], handle

    @invariant()
    def money_is_conserved(self) -> None:
        assert sum(self.balances.values()) == self.minted
        with closing(sqlite3.connect(self.wallet.path)) as db:
            (treasury,) = db.execute(
                "SELECT coalesce(sum(balance_minor), 0) FROM accounts WHERE user_id IS NULL"
            ).fetchone()
            (users_total,) = db.execute(
                "SELECT coalesce(sum(balance_minor), 0) FROM accounts WHERE user_id IS NOT NULL"
            ).fetchone()
        assert treasury == -self.minted
        assert users_total == self.minted

    @invariant()
    def no_user_balance_is_negative(self) -> None:
        assert all(balance >= 0 for balance in self.balances.values())

    @invariant()
    def the_ledger_verifies(self) -> None:
        report = self.clients["alice"].verify_ledger()
        assert report.ok, report.problems


LedgerMatchesAModel.TestCase.settings = settings(
    max_examples=15, stateful_step_count=25, deadline=None
)
TestTheLedgerAlwaysMatchesASimpleModel = LedgerMatchesAModel.TestCase
