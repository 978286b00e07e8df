"""Seeded wallets for the dashboard tests: real engines, fixed clocks, fixed payment ids.

Everything the screens show comes from these wallets, so nothing here may depend on the
wall clock or on random ids: the snapshot tests compare pixels across runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cpay_cli.tui.app import CPayApp
from cpay_cli.tui.context import UiContext
from cpay_cli.tui.modes import DEFAULT_SCREEN, ScreenName
from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.api import EngineKeyView, PaymentsAPI
from cpay_engine.client import SignedClient
from cpay_engine.domain.model import Role
from cpay_engine.errors import InsufficientFunds
from tests.support import Clock, Wallet

# 2026-03-02 09:00 UTC: long enough ago that the dashboard's 30-day trend (which reads the
# wall clock) is empty, so snapshots do not change as the real date moves on.
FIXED_NOW_MS = 1_772_442_000_000
MINUTE_MS = 60_000

MARKUP_MEMO = "[bold red]pwned[/] \x1b[31mred"
MARKUP_MEMO_SHOWN = "[bold red]pwned[/] \\x1b[31mred"


@dataclass
class SeededWallet:
    """A wallet whose clients all sign with the engine's own (settable) clock."""

    wallet: Wallet
    clock: Clock

    @classmethod
    def create(cls, path: Path, now_ms: int = FIXED_NOW_MS) -> SeededWallet:
        clock = Clock(now_ms)
        return cls(Wallet.create(path, clock=clock), clock)

    def api(self, handle: str) -> SignedClient:
        return self.wallet.client_for_key(self.wallet.keys[handle], clock=self.clock)

    def add_user(self, handle: str, role: Role = Role.USER) -> None:
        key = SigningKey.generate()
        self.api("alice").create_user(handle=handle, role=role, public_key=key.public_key)
        self.wallet.keys[handle] = key

    def mint(self, payment_id: str, recipient: str, amount_minor: int, memo: str = "") -> None:
        self.clock.advance(MINUTE_MS)
        self.api("alice").mint(
            payment_id=payment_id,
            recipient=recipient,
            amount_minor=amount_minor,
            currency="DBL",
            memo=memo,
        )

    def pay(
        self, payment_id: str, payer: str, recipient: str, amount_minor: int, memo: str = ""
    ) -> None:
        self.clock.advance(MINUTE_MS)
        self.api(payer).pay(
            payment_id=payment_id,
            recipient=recipient,
            amount_minor=amount_minor,
            currency="DBL",
            memo=memo,
        )

    def available(self, handle: str, currency: str = "DBL") -> int:
        balances = {b.currency: b.available_minor for b in self.api(handle).balances()}
        return balances.get(currency, 0)

    @property
    def engine_keys(self) -> tuple[EngineKeyView, ...]:
        key = self.wallet.engine_key
        return (EngineKeyView(key.key_id, key.public_key),)

    def context(self, trusted: tuple[EngineKeyView, ...] | None = None) -> UiContext:
        keys = self.engine_keys if trusted is None else trusted
        return UiContext(
            profile="test",
            mode="local",
            target="wallet.db",
            trusted_engine_keys=lambda: keys,
        )

    def app(
        self,
        handle: str,
        *,
        api: PaymentsAPI | None = None,
        context: UiContext | None = None,
        start: ScreenName = DEFAULT_SCREEN,
    ) -> CPayApp:
        client = api if api is not None else self.api(handle)
        return CPayApp(client, context or self.context(), client.account(), start=start)


# What the seeded story leaves behind, in minor units (1 DBL = 100).
ALICE_START = 1_000_00
BOB_START = 250_00
CAROL_START = 80_00
LUNCH = 12_50  # bob -> carol
COFFEE = 3_00  # carol -> bob
RENT_SHARE = 40_00  # bob -> alice
TOO_MUCH = 500_00  # carol -> alice: fails, carol has far less
PRANK = 7_77  # alice -> bob, with the markup memo

BOB_AVAILABLE = BOB_START - LUNCH + COFFEE - RENT_SHARE + PRANK
CAROL_AVAILABLE = CAROL_START + LUNCH - COFFEE


def seed_story(seeded: SeededWallet) -> None:
    """alice (admin), bob and carol; mints, payments, one failure, one hostile memo."""
    seeded.add_user("bob")
    seeded.add_user("carol")
    seeded.mint("seed-mint-alice", "alice", ALICE_START, "opening float")
    seeded.mint("seed-mint-bob", "bob", BOB_START, "welcome")
    seeded.mint("seed-mint-carol", "carol", CAROL_START, "welcome")
    seeded.pay("seed-pay-lunch", "bob", "carol", LUNCH, "lunch")
    seeded.pay("seed-pay-coffee", "carol", "bob", COFFEE, "coffee")
    seeded.pay("seed-pay-rent", "bob", "alice", RENT_SHARE, "rent share")
    try:
        seeded.pay("seed-pay-too-much", "carol", "alice", TOO_MUCH, "too much")
    except InsufficientFunds:
        pass  # recorded as a failed transaction: that is the point
    else:
        raise AssertionError("carol's 500 DBL payment should have failed")
    seeded.pay("seed-pay-prank", "alice", "bob", PRANK, MARKUP_MEMO)
