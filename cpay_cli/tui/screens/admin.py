"""Admin: minting Dabloons from the treasury (shown to admins only)."""

from __future__ import annotations

from cpay_cli.tui.screens.pay import MoneyCall, PaymentForm


class AdminScreen(PaymentForm):
    VERB = "Mint"
    FROM_TREASURY = True
    fixed_currency = "DBL"

    def operation(self) -> MoneyCall:
        return self.cpay.api.mint

    def on_mount(self) -> None:
        super().on_mount()
        if not self.cpay.is_admin:
            self.app.switch_mode("dashboard")
