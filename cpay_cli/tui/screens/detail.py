"""Detail of one transaction: postings, memo, status history, and the receipt, verified or not.

The engine writes every transaction in its final state (a Dabloon payment is completed or
failed at once), so its status history has one entry, derived from the transaction
itself. Provider payments (pending, then completed or unknown) will need the engine to
record each change; this section then lists them.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Header, Static

from cpay_cli.tui.base import CPayScreen
from cpay_cli.tui.format import amount, header, literal, literal_lines, party, when
from cpay_cli.tui.keybar import KeyBar
from cpay_engine.api import TransactionView
from cpay_engine.client import receipt_verifies
from cpay_engine.domain.money import format_amount


@dataclass(frozen=True)
class Detail:
    tx: TransactionView
    verified: bool


class DetailScreen(CPayScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "back", "Back"),
        Binding("g", "refresh", "Refresh"),
    ]

    def __init__(self, tx_id: str) -> None:
        super().__init__()
        self.tx_id = tx_id

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail"):
            yield Static(literal(f"Transaction {self.tx_id}"), classes="title")
            yield Static("", id="detail-summary")
            yield Static("Status history", classes="title")
            yield Static("", id="detail-status-history")
            yield Static("Postings", classes="title")
            postings: DataTable[object] = DataTable(id="detail-postings", cursor_type="none")
            yield postings
            yield Static("Receipt", classes="title")
            yield Static("", id="detail-receipt")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#detail-postings", DataTable).add_columns(
            "Account", header("Amount"), "Currency"
        )
        self.action_refresh()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_refresh(self) -> None:
        api, keys, tx_id = self.cpay.api, self.cpay.context.trusted_engine_keys, self.tx_id
        self.mark_loading(self.query_one("#detail"))

        def load() -> Detail:
            tx = api.transaction(tx_id)
            return Detail(tx, receipt_verifies(tx, keys()))

        self.call_api(load, self._show, failed=self._failed_load)

    def _failed_load(self, error: Exception) -> None:
        self.done_loading(self.query_one("#detail"))
        self.query_one("#detail-summary", Static).update(literal(str(error), "red"))

    def _show(self, detail: Detail) -> None:
        tx = detail.tx
        lines = [
            f"Status      {tx.status.value}"
            + (f" — {tx.failure_message}" if tx.failure_message else ""),
            f"Kind        {tx.kind.value}",
            f"When        {when(tx.created_at_ms)} UTC",
            f"From        {party(tx.from_handle)}",
            f"To          {party(tx.to_handle)}",
            f"Amount      {format_amount(tx.amount_minor, tx.currency)} {tx.currency}",
            f"Memo        {tx.memo}",
        ]
        self.query_one("#detail-summary", Static).update(literal_lines(lines))
        entry = f"{when(tx.created_at_ms)} UTC  {tx.status.value}"
        if tx.failure_message:
            entry += f" — {tx.failure_message}"
        self.query_one("#detail-status-history", Static).update(literal(entry))
        table = self.query_one("#detail-postings", DataTable)
        table.clear()
        for p in tx.postings:
            table.add_row(
                literal(p.account), amount(format_amount(p.amount_minor, p.currency)), p.currency
            )
        receipt = self.query_one("#detail-receipt", Static)
        if tx.receipt is None:
            receipt.update("No receipt (only completed transactions have one).")
        elif detail.verified:
            receipt.update(
                Text.assemble(
                    ("✔ signature verified", "bold green"),
                    f"  engine key {tx.receipt.key_id}",
                )
            )
        else:
            receipt.update(
                Text.assemble(
                    ("✘ NOT verified", "bold red"),
                    f"  signed by {tx.receipt.key_id}: not a trusted engine key, or it does not "
                    "match this transaction",
                )
            )
        self.done_loading(self.query_one("#detail"))
