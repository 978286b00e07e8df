"""Dashboard: balances, the latest activity, 30 days of money in and out, attention."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Sparkline, Static

from cpay_cli.tui.base import ROW_KEYS, CPayScreen, fill_table, worker_cancelled
from cpay_cli.tui.format import (
    HISTORY_COLUMNS,
    amount,
    history_cells,
    literal,
    literal_lines,
    party,
)
from cpay_cli.tui.keybar import KeyBar
from cpay_engine.api import BalanceView, PaymentsAPI, TransactionView
from cpay_engine.domain.model import Direction, TxStatus
from cpay_engine.domain.money import format_amount
from cpay_engine.domain.query import HistoryFilter
from cpay_engine.errors import OutcomeUnknown, Unavailable

BALANCE_COLUMNS = ("Currency", "Available", "Pending")

DAY_MS = 86_400_000
TREND_DAYS = 30
TREND_MAX_ROWS = 2_000  # the trend reads at most this many recent rows (and says so)


@dataclass(frozen=True)
class Summary:
    """The top of the dashboard, loaded first: two small reads."""

    balances: list[BalanceView]
    latest: list[TransactionView]
    balances_unavailable: str = ""  # why, when they could not be read (offline)


@dataclass(frozen=True)
class Trend:
    """The rest, loaded once the summary is shown: up to TREND_MAX_ROWS rows and three
    status queries."""

    money_in: list[float]  # per day, display only (never used as money)
    money_out: list[float]
    trend_currency: str
    attention: list[TransactionView]
    trend_capped: bool = False  # more than TREND_MAX_ROWS in the window: totals are partial


def never() -> bool:
    return False


def load_summary(api: PaymentsAPI, stopped: Callable[[], bool] = never) -> Summary:
    """Balances and the latest activity. Offline (a remote profile whose server cannot be
    reached) the balances are missing but the history comes from the cache."""
    try:
        balances, missing = api.balances(), ""
    except (Unavailable, OutcomeUnknown) as error:
        balances, missing = [], error.message
    if stopped():  # left already: the caller drops this answer
        return Summary(balances, [], missing)
    return Summary(balances, list(api.history(limit=8).transactions), missing)


def trend_filter(now_ms: int) -> HistoryFilter:
    """The trend's rows: completed DBL payments of the last TREND_DAYS days."""
    return HistoryFilter(
        since_ms=now_ms - TREND_DAYS * DAY_MS, currency="DBL", status=TxStatus.COMPLETED
    )


def attention_filters(now_ms: int) -> tuple[HistoryFilter, ...]:
    """What needs attention: payments still open (outcome unknown, or pending) in the
    trend's window, and failures of the last 7 days.

    Bounded in time so that, with nothing to show, the store reads only the window
    (a million-row history stays instant); older open payments are in the history.
    bench.tui_history times these very queries."""
    since = now_ms - TREND_DAYS * DAY_MS
    return (
        HistoryFilter(status=TxStatus.UNKNOWN, since_ms=since),
        HistoryFilter(status=TxStatus.PENDING, since_ms=since),
        HistoryFilter(status=TxStatus.FAILED, since_ms=now_ms - 7 * DAY_MS),
    )


def load_trend(api: PaymentsAPI, now_ms: int, stopped: Callable[[], bool] = never) -> Trend:
    """Thirty days of DBL in and out, and what needs attention. `stopped` is asked between
    reads: once it says so, the rest is skipped (the caller drops a stopped load's answer)."""
    since = now_ms - TREND_DAYS * DAY_MS
    window = trend_filter(now_ms)
    days_in = [0] * TREND_DAYS
    days_out = [0] * TREND_DAYS
    cursor, seen, capped = "", 0, False
    while not stopped():
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
    attention: list[TransactionView] = []
    for wanted in attention_filters(now_ms):
        if stopped():
            break
        attention += api.history(limit=20, filter=wanted).transactions
    return Trend(
        [float(v) for v in days_in],
        [float(v) for v in days_out],
        "DBL",
        attention,
        capped,
    )


class DashboardScreen(CPayScreen):
    BINDINGS = [Binding("g", "refresh", "Refresh"), *ROW_KEYS]  # noqa: RUF012

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
        yield KeyBar()

    def on_mount(self) -> None:
        fill_table(self.query_one("#balances", DataTable), BALANCE_COLUMNS, [])
        fill_table(self.query_one("#latest", DataTable), HISTORY_COLUMNS, [])

    def on_screen_resume(self) -> None:
        # Also sent when the screen is first shown: the one place it loads (not on_mount too).
        self.action_refresh()

    def on_screen_suspend(self) -> None:
        # Another screen is in front: stop reading for this one (the trend pages through up
        # to TREND_MAX_ROWS rows) instead of competing with the new screen's first page.
        # Coming back loads afresh.
        self.workers.cancel_node(self)

    def action_refresh(self) -> None:
        for widget_id in ("#balances", "#latest"):
            self.mark_loading(self.query_one(widget_id))
        api = self.cpay.api
        self.call_api(
            lambda: load_summary(api, worker_cancelled),
            self._show_summary,
            failed=self._failed_load,
        )

    def _load_trend(self) -> None:
        if not self.is_current:  # left before the summary came: no trend to read
            return
        api = self.cpay.api
        now = time.time_ns() // 1_000_000
        self.call_api(
            lambda: load_trend(api, now, worker_cancelled),
            self._show_trend,
            group="trend",
            failed=self._failed_load,
        )

    def _failed_load(self, error: Exception) -> None:
        for widget_id in ("#balances", "#latest"):
            self.done_loading(self.query_one(widget_id))
        self.query_one("#attention", Static).update(literal(f"Could not load: {error}", "red"))

    def _show_summary(self, data: Summary) -> None:
        balances = self.query_one("#balances", DataTable)
        rows: list[tuple[Text | str, ...]] = [
            (
                b.currency,
                amount(format_amount(b.available_minor, b.currency)),
                amount(format_amount(b.pending_minor, b.currency)),
            )
            for b in data.balances
        ]
        if data.balances_unavailable:  # offline: nothing stale shown as if it were now
            rows = [("—", "offline", "—")]
            self.notify(
                f"Balances need the server: {data.balances_unavailable}",
                title="Offline",
                severity="warning",
                markup=False,
            )
        fill_table(balances, BALANCE_COLUMNS, rows)
        self.done_loading(balances)
        latest = self.query_one("#latest", DataTable)
        cells = [history_cells(tx) for tx in data.latest]
        fill_table(latest, HISTORY_COLUMNS, cells, keys=[tx.id for tx in data.latest])
        self.done_loading(latest)
        if self.focused is None:
            latest.focus()  # it could not take focus while loading
        # The trend and attention next: the first paint waits for the two small reads only.
        self._load_trend()

    def _show_trend(self, data: Trend) -> None:
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
