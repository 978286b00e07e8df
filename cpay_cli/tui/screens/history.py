"""History: every transaction, newest first, paged from the store as the cursor moves.

Never loads everything: the table holds a window of pages fetched by keyset cursor.
Near the bottom the next older page is appended; End jumps to the oldest page (the
engine answers it from the other end of the same index) and Home back to the newest.
After End, moving up fetches newer pages and rebuilds the window around the cursor.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Input, Static

from cpay_cli.tui.base import ROW_MOVES, CPayScreen, fill_table
from cpay_cli.tui.format import HISTORY_COLUMNS, column_widths, history_cells
from cpay_cli.tui.inputs import FormInput
from cpay_cli.tui.keybar import KeyBar
from cpay_engine.api import HistoryPage, TransactionView
from cpay_engine.domain.query import FIRST, HistoryFilter, encode_cursor, parse_query
from cpay_engine.errors import CPayError

PAGE = 100
PREFETCH_MARGIN = 25  # fetch the next page when the cursor is this close to the edge
MAX_WINDOW = 2_000  # rows kept in the table; older windows are rebuilt, not grown forever


@dataclass(frozen=True)
class Window:
    rows: list[TransactionView]
    older_cursor: str  # fetch rows older than the last one ("" = we hold the oldest)
    newer_cursor: str  # fetch rows newer than the first one ("" = we hold the newest)


class HistoryScreen(CPayScreen):
    AUTO_FOCUS = "#history-table"
    BINDINGS = [  # noqa: RUF012
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Back", show=False),
        Binding("g", "refresh", "Refresh"),
        # priority: the table would otherwise take Home/End as plain scrolling
        Binding("home", "newest", "Newest", show=False, priority=True),
        Binding("end", "oldest", "Oldest", show=False, priority=True),
        *ROW_MOVES,
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = HistoryFilter()
        self.query_text = ""
        self.window = Window([], "", "")
        self._fetching = False
        self._focus_table = False
        self._widths: tuple[int, ...] = ()

    def compose(self) -> ComposeResult:
        yield Header()
        yield FormInput(
            placeholder="filter: @bob rent status:failed amount:10..50 after:7d "
            "(Enter applies, Esc clears)",
            id="filter",
        )
        table: DataTable[object] = DataTable(
            id="history-table", cursor_type="row", zebra_stripes=True
        )
        yield table
        yield Static("", id="history-status")
        yield KeyBar()

    def on_mount(self) -> None:
        self._widths = fill_table(self.query_one(DataTable), HISTORY_COLUMNS, [])
        self.action_newest()

    # --- loading -----------------------------------------------------------------------

    def _status(self, text: str) -> None:
        self.query_one("#history-status", Static).update(text)

    def action_refresh(self) -> None:
        self.action_newest()

    def on_screen_resume(self) -> None:
        """Back from the detail or another screen: what happened meanwhile is added on top
        (only while the newest rows are shown), and every row already loaded stays, with
        the cursor on the same transaction."""
        if self.window.newer_cursor or not self.window.rows:
            return
        row = self.query_one(DataTable).cursor_row
        api, f, newest = self.cpay.api, self.filter, encode_cursor(self.window.rows[0].seq)

        def show(page: HistoryPage) -> None:
            if page.transactions:
                self._prepend_newer(page, keep=row)

        self.call_api(lambda: api.history(limit=PAGE, after_cursor=newest, filter=f), show)

    def action_newest(self) -> None:
        api, f = self.cpay.api, self.filter
        self.mark_loading(self.query_one(DataTable))
        self.call_api(lambda: api.history(limit=PAGE, filter=f), self._show_newest)

    def action_oldest(self) -> None:
        api, f = self.cpay.api, self.filter
        self.mark_loading(self.query_one(DataTable))
        self.call_api(
            lambda: api.history(limit=PAGE, after_cursor=FIRST, filter=f), self._show_oldest
        )

    def _show_newest(self, page: HistoryPage) -> None:
        rows = list(page.transactions)
        self._replace(Window(rows, page.next_cursor, ""), cursor=0)

    def _show_oldest(self, page: HistoryPage) -> None:
        rows = list(reversed(page.transactions))  # oldest first from the engine
        newer = encode_cursor(rows[0].seq) if rows and len(page.transactions) == PAGE else ""
        self._replace(Window(rows, "", newer), cursor=max(len(rows) - 1, 0))

    def _replace(self, window: Window, cursor: int) -> None:
        self.window = window
        table = self.query_one(DataTable)
        self._widths = fill_table(table, HISTORY_COLUMNS, [history_cells(tx) for tx in window.rows])
        # row keys: DataTable.add_rows gives generated keys; map row index -> id ourselves
        self.done_loading(table)
        if window.rows:
            table.move_cursor(row=min(cursor, len(window.rows) - 1), animate=False)
        if self._focus_table:  # a loading table cannot take focus; it can now
            self._focus_table = False
            table.focus()
        self._fetching = False
        self._describe()

    def _describe(self) -> None:
        n = len(self.window.rows)
        where = "" if not self.window.newer_cursor else " · newer rows above (↑ to load)"
        more = " · older rows below" if self.window.older_cursor else " · oldest shown"
        label = f"filter: {self.query_text} · " if self.query_text else ""
        if n == 0:
            none = "no transactions match" if self.query_text else "no transactions yet"
            self._status(f"{label}{none} · Esc clears the filter" if self.query_text else none)
            return
        rows = "1 row" if n == 1 else f"{n} rows"
        self._status(f"{label}{rows} loaded{where}{more} · Enter: detail · /: filter")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        row = event.cursor_row
        # Rebuilding the table queues highlights of rows the cursor has already left
        # (row 0 on the first add); only the row it is on now may trigger a fetch.
        if self._fetching or row != event.data_table.cursor_row:
            return
        if self.window.older_cursor and row >= len(self.window.rows) - PREFETCH_MARGIN:
            self._fetch_older()
        elif self.window.newer_cursor and row <= 0:
            self._fetch_newer()

    def _fetch_older(self) -> None:
        self._fetching = True
        api, f, cursor = self.cpay.api, self.filter, self.window.older_cursor
        self._status("loading older rows…")
        self.call_api(
            lambda: api.history(limit=PAGE, before_cursor=cursor, filter=f),
            self._append_older,
            group="page",
            failed=self._page_failed,
        )

    def _append_older(self, page: HistoryPage) -> None:
        table = self.query_one(DataTable)
        rows = list(page.transactions)
        self.window = Window(self.window.rows + rows, page.next_cursor, self.window.newer_cursor)
        cells = [history_cells(tx) for tx in rows]
        if column_widths(HISTORY_COLUMNS, cells, at_least=self._widths) == self._widths:
            table.add_rows(cells)
        else:  # wider cells: the columns are set again with every row
            self._replace(self.window, cursor=table.cursor_row)
        self._fetching = False
        if len(self.window.rows) > MAX_WINDOW:  # keep memory bounded: re-window here
            keep = self.window.rows[-MAX_WINDOW // 2 :]
            cursor_id = self.window.rows[table.cursor_row].id if self.window.rows else ""
            newer = encode_cursor(keep[0].seq)
            self._replace(
                Window(keep, self.window.older_cursor, newer),
                cursor=next((i for i, t in enumerate(keep) if t.id == cursor_id), 0),
            )
        self._describe()

    def _fetch_newer(self) -> None:
        self._fetching = True
        api, f, cursor = self.cpay.api, self.filter, self.window.newer_cursor
        self._status("loading newer rows…")
        self.call_api(
            lambda: api.history(limit=PAGE, after_cursor=cursor, filter=f),
            self._prepend_newer,
            group="page",
            failed=self._page_failed,
        )

    def _prepend_newer(self, page: HistoryPage, keep: int = 0) -> None:
        """Rows newer than the window's first, on top; the cursor moves down with the row
        it was on (`keep`), or sits on the row just below them."""
        newer = list(reversed(page.transactions))
        has_more = len(page.transactions) == PAGE
        rows = (newer + self.window.rows)[:MAX_WINDOW]
        older = self.window.older_cursor or (
            encode_cursor(rows[-1].seq) if len(rows) < len(newer) + len(self.window.rows) else ""
        )
        self._replace(
            Window(rows, older, encode_cursor(rows[0].seq) if has_more and rows else ""),
            cursor=len(newer) + keep,
        )

    def load_failed(self, error: CPayError) -> None:
        super().load_failed(error)
        self._fetching = False
        self._status("could not load: press g to try again")

    def _page_failed(self, error: CPayError) -> None:
        self._fetching = False
        self.notify(error.message, title="History", severity="error", markup=False)
        self._describe()

    # --- filter ------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("visible")
        box.value = self.query_text
        box.focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:  # noqa: ARG002
        # Home/End edit the filter text while it has focus
        return not (action in ("newest", "oldest") and isinstance(self.focused, Input))

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if not box.has_class("visible") and not self.query_text:
            self.app.switch_mode("dashboard")  # Esc with nothing to undo: back
            return
        if box.has_class("visible") and not box.value and not self.query_text:
            box.remove_class("visible")
            self.query_one(DataTable).focus()
            return
        if self.query_text or box.value:
            box.value = ""
            self._apply("")
        box.remove_class("visible")
        self.query_one(DataTable).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self._focus_table = True
            self._apply(event.value.strip())

    def _apply(self, text: str) -> None:
        try:
            self.filter = parse_query(text, time.time_ns() // 1_000_000)
        except CPayError as error:
            self.notify(error.message, title="Filter", severity="error", markup=False)
            return
        self.query_text = text
        if not text:
            self.query_one("#filter", Input).remove_class("visible")
        self.action_newest()

    # --- moving and opening ------------------------------------------------------------

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        index = event.cursor_row
        if 0 <= index < len(self.window.rows):
            from cpay_cli.tui.screens.detail import DetailScreen

            self.app.push_screen(DetailScreen(self.window.rows[index].id))
