"""Dashboard: balances, the latest activity, 30 days of money in and out, attention."""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from cpay_cli.tui.base import CPayScreen
from cpay_cli.tui.format import HISTORY_COLUMNS, history_cells, literal, literal_lines, party
from cpay_engine.api import BalanceView, PaymentsAPI, TransactionView
from cpay_engine.domain.model import Direction, TxStatus
from cpay_engine.domain.money import format_amount
from cpay_engine.domain.query import HistoryFilter

DAY_MS = 86_400_000
TREND_DAYS = 30
TREND_MAX_ROWS = 2_000  # the trend reads at most this many recent rows (and says so)


@dataclass(frozen=True)
class DashboardData:
    balances: list[BalanceView]
    latest: list[TransactionView]
    money_in: list[float]  # per day, display only (never used as money)
    money_out: list[float]
    trend_currency: str
    attention: list[TransactionView]
    trend_capped: bool = False  # more than TREND_MAX_ROWS in the window: totals are partial


def load_dashboard(api: PaymentsAPI, now_ms: int) -> DashboardData:
    balances = api.balances()
    latest = list(api.history(limit=8).transactions)
    since = now_ms - TREND_DAYS * DAY_MS
    window = HistoryFilter(since_ms=since, currency="DBL", status=TxStatus.COMPLETED)
    days_in = [0] * TREND_DAYS
    days_out = [0] * TREND_DAYS
    cursor, seen, capped = "", 0, False
    while True:
        page = api.history(limit=500, before_cursor=cursor, filter=window)
        for tx in page.transactions:
            day = min(TREND_DAYS - 1, max(0, (tx.created_at_ms - since) // DAY_MS))
            if tx.direction is Direction.IN:
                days_in[day] += tx.amount_minor
            else:
                days_out[day] += tx.amount_minor
        seen += len(page.transactions)
        cursor = page.next_cursor
        if not cursor:
            break
        if seen >= TREND_MAX_ROWS:
            capped = True
            break
    # Bounded in time so that, with nothing to show, the store reads only the window
    # (a million-row history stays instant); older open payments are in the history.
    attention: list[TransactionView] = []
    for state in (TxStatus.UNKNOWN, TxStatus.PENDING):
        recent = HistoryFilter(status=state, since_ms=since)
        attention += api.history(limit=20, filter=recent).transactions
    recent_failures = HistoryFilter(status=TxStatus.FAILED, since_ms=now_ms - 7 * DAY_MS)
    attention += api.history(limit=20, filter=recent_failures).transactions
    return DashboardData(
        balances,
        latest,
        [float(v) for v in days_in],
        [float(v) for v in days_out],
        "DBL",
        attention,
        capped,
    )


class DashboardScreen(CPayScreen):
    BINDINGS = [Binding("g", "refresh", "Refresh")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Balances", classes="title")
        table: DataTable[object] = DataTable(id="balances", cursor_type="none", zebra_stripes=True)
        table.can_focus = False  # no row cursor: focus goes to the latest activity
        yield table
        with Horizontal(id="trend-row", classes="panel"):
            with Vertical():
                yield Static("In, last 30 days", id="trend-in-label")
                yield Sparkline([], id="trend-in")
            with Vertical():
                yield Static("Out, last 30 days", id="trend-out-label")
                yield Sparkline([], id="trend-out")
        yield Static("Needs attention", classes="title")
        yield Static("", id="attention")
        yield Static("Latest activity", classes="title")
        latest: DataTable[object] = DataTable(id="latest", cursor_type="row", zebra_stripes=True)
        yield latest
        yield Footer()

    def on_mount(self) -> None:
        balances = self.query_one("#balances", DataTable)
        balances.add_columns("Currency", "Available", "Pending")
        self.query_one("#latest", DataTable).add_columns(*HISTORY_COLUMNS)

    def on_screen_resume(self) -> None:
        # Also sent when the screen is first shown: the one place it loads (not on_mount too).
        self.action_refresh()

    def action_refresh(self) -> None:
        for widget_id in ("#balances", "#latest"):
            self.query_one(widget_id).loading = True
        api = self.cpay.api
        now = time.time_ns() // 1_000_000
        self.call_api(lambda: load_dashboard(api, now), self._show, failed=self._failed_load)

    def _failed_load(self, error: Exception) -> None:
        for widget_id in ("#balances", "#latest"):
            self.query_one(widget_id).loading = False
        self.query_one("#attention", Static).update(literal(f"Could not load: {error}", "red"))

    def _show(self, data: DashboardData) -> None:
        balances = self.query_one("#balances", DataTable)
        balances.clear()
        for b in data.balances:
            balances.add_row(
                b.currency,
                format_amount(b.available_minor, b.currency),
                format_amount(b.pending_minor, b.currency),
            )
        balances.loading = False
        latest = self.query_one("#latest", DataTable)
        latest.clear()
        for tx in data.latest:
            latest.add_row(*history_cells(tx), key=tx.id)
        latest.loading = False
        if self.focused is None:
            latest.focus()  # it could not take focus while loading
        total_in = format_amount(int(sum(data.money_in)), data.trend_currency)
        total_out = format_amount(int(sum(data.money_out)), data.trend_currency)
        window = f"last {TREND_MAX_ROWS} payments" if data.trend_capped else "30 days"
        self.query_one("#trend-in-label", Static).update(f"In, {window}: {total_in} DBL")
        self.query_one("#trend-out-label", Static).update(f"Out, {window}: {total_out} DBL")
        self.query_one("#trend-in", Sparkline).data = data.money_in
        self.query_one("#trend-out", Sparkline).data = data.money_out
        attention = self.query_one("#attention", Static)
        if not data.attention:
            attention.update("Nothing needs attention.")
        else:
            lines = [
                f"{tx.status.value:>9}  {format_amount(tx.amount_minor, tx.currency)} "
                f"{tx.currency} {'to' if tx.direction is Direction.OUT else 'from'} "
                f"{party(tx.counterparty)}  {tx.id}"
                for tx in data.attention[:5]
            ]
            attention.update(literal_lines(lines, "yellow"))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "latest" and event.row_key.value:
            from cpay_cli.tui.screens.detail import DetailScreen

            self.app.push_screen(DetailScreen(event.row_key.value))
