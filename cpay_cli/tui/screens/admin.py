"""Admin: minting Dabloons from the treasury (shown to admins only)."""

from __future__ import annotations

from cpay_cli.tui.screens.pay import Order, PaymentForm
from cpay_engine.api import PaymentResult


class AdminScreen(PaymentForm):
    VERB = "Mint"
    fixed_currency = "DBL"

    def send(self, order: Order, payment_id: str) -> PaymentResult:
        return self.cpay.api.mint(
            payment_id=payment_id,
            recipient=order.recipient,
            amount_minor=order.amount_minor,
            currency=order.currency,
            memo=order.memo,
        )

    def on_mount(self) -> None:
        super().on_mount()
        if not self.cpay.is_admin:
            self.app.switch_mode("dashboard")
