"""Notifications: payments received and payments that failed, newest first.

The notifications capability fills this centre later; until then it is derived
from history.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from cpay_cli.tui.base import ROW_KEYS, CPayScreen
from cpay_cli.tui.format import header, literal, party, signed_amount, when
from cpay_cli.tui.keybar import KeyBar
from cpay_engine.api import PaymentsAPI, TransactionView
from cpay_engine.domain.model import Direction, TxStatus
from cpay_engine.domain.query import HistoryFilter

PER_KIND = 50


def load_notifications(api: PaymentsAPI) -> list[TransactionView]:
    """The newest received and failed payments, merged, with no gaps: a kind that filled
    its page may have more below its oldest row, so nothing older than that is shown
    (an old failure used to sit right under the 50th tip, tips before it missing)."""
    received = api.history(
        limit=PER_KIND, filter=HistoryFilter(direction=Direction.IN, status=TxStatus.COMPLETED)
    ).transactions
    failed = api.history(limit=PER_KIND, filter=HistoryFilter(status=TxStatus.FAILED)).transactions
    floor = max((page[-1].seq for page in (received, failed) if len(page) == PER_KIND), default=0)
    merged = sorted([*received, *failed], key=lambda t: t.seq, reverse=True)
    return [t for t in merged if t.seq >= floor]


class NotificationsScreen(CPayScreen):
    BINDINGS = [Binding("g", "refresh", "Refresh"), *ROW_KEYS]  # noqa: RUF012

    def __init__(self) -> None:
        super().__init__()
        self.items: list[TransactionView] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Notifications", classes="title")
        table: DataTable[object] = DataTable(
            id="notifications", cursor_type="row", zebra_stripes=True
        )
        yield table
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("When", "What", header("Amount"), "Memo")

    def on_screen_resume(self) -> None:
        # Also sent when the screen is first shown: the one place it loads.
        self.action_refresh()

    def action_refresh(self) -> None:
        api = self.cpay.api
        self.mark_loading(self.query_one(DataTable))
        self.call_api(lambda: load_notifications(api), self._show)

    def _show(self, items: list[TransactionView]) -> None:
        self.items = items
        table = self.query_one(DataTable)
        table.clear()
        for tx in items:
            if tx.status is TxStatus.FAILED:
                what = literal(f"Payment to {party(tx.counterparty)} failed", "red")
            else:
                what = literal(f"Received from {party(tx.counterparty)}", "green")
            table.add_row(when(tx.created_at_ms), what, signed_amount(tx), literal(tx.memo))
        if not items:
            table.add_row("", "No notifications yet.", "", "")
        self.done_loading(table)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.items):
            from cpay_cli.tui.screens.detail import DetailScreen

            self.app.push_screen(DetailScreen(self.items[event.cursor_row].id))
