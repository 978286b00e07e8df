"""Screen plumbing: run an engine call in a thread worker and come back on the UI thread,
and show a loading indicator only when the answer is slow to come."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, TypeVar, cast

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable
from textual.worker import get_current_worker

from cpay_cli.tui.format import column_widths, header
from cpay_engine.errors import CPayError

if TYPE_CHECKING:
    from cpay_cli.tui.app import CPayApp

T = TypeVar("T")

# Most engine answers come well within this: a screen then paints its data straight away
# instead of mounting, styling and removing a loading indicator first (and flickering).
LOADING_DELAY_S = 0.25


def fill_table(
    table: DataTable[object],
    labels: tuple[str, ...],
    rows: list[tuple[Text | str, ...]],
    keys: list[str] | None = None,
) -> tuple[int, ...]:
    """Replace `table`'s columns and rows, the columns as wide as these rows need; returns
    those widths. CPay measures them itself (format.column_widths) instead of leaving it
    to DataTable's automatic widths: a table filled straight after mounting, on a loaded
    machine, sometimes kept its header-wide columns (bench/tui_history's terminal
    launches caught it)."""
    widths = column_widths(labels, rows)
    table.clear(columns=True)
    for label, width in zip(labels, widths, strict=True):
        table.add_column(header(label), width=width)
    if keys is None:
        table.add_rows(rows)
    else:
        for cells, key in zip(rows, keys, strict=True):
            table.add_row(*cells, key=key)
    return widths


def worker_cancelled() -> bool:
    """In a thread worker: has it been cancelled? (Textual cannot stop a thread; a long
    job asks this between engine calls and gives up.)"""
    return get_current_worker().is_cancelled


# The help screen's "↑ ↓ or k j move, Home End newest, oldest" on every list screen. The
# history screen binds its own (Home and End page there through the whole store).
ROW_MOVES = [
    Binding("j", "row_down", "Down", show=False),
    Binding("k", "row_up", "Up", show=False),
]
ROW_KEYS = [
    *ROW_MOVES,
    # priority: a table would otherwise take Home/End as sideways scrolling
    Binding("home", "first_row", "Newest", show=False, priority=True),
    Binding("end", "last_row", "Oldest", show=False, priority=True),
]


class CPayScreen(Screen[None]):
    """A screen that talks to PaymentsAPI only from workers."""

    def __init__(
        self, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name, id, classes)
        self._loading_timers: dict[Widget, Timer] = {}

    @property
    def cpay(self) -> CPayApp:
        return cast("CPayApp", self.app)

    def _rows(self) -> DataTable[object] | None:
        """The table the row keys move in: the focused one, else the screen's first."""
        focused = self.focused
        if isinstance(focused, DataTable):
            return focused
        tables = [t for t in self.query(DataTable) if t.cursor_type != "none"]
        return tables[0] if tables else None

    def action_row_down(self) -> None:
        if (table := self._rows()) is not None:
            table.action_cursor_down()

    def action_row_up(self) -> None:
        if (table := self._rows()) is not None:
            table.action_cursor_up()

    def action_first_row(self) -> None:
        if (table := self._rows()) is not None and table.row_count:
            table.move_cursor(row=0, animate=False)

    def action_last_row(self) -> None:
        if (table := self._rows()) is not None and table.row_count:
            table.move_cursor(row=table.row_count - 1, animate=False)

    def mark_loading(self, *widgets: Widget) -> None:
        """The widgets' data is on its way: they show the loading indicator if it is not
        there within LOADING_DELAY_S (until `done_loading`)."""
        for widget in widgets:
            self._stop_loading_timer(widget)
            self._loading_timers[widget] = self.set_timer(
                LOADING_DELAY_S, partial(setattr, widget, "loading", True)
            )

    def done_loading(self, *widgets: Widget) -> None:
        for widget in widgets:
            self._stop_loading_timer(widget)
            widget.loading = False

    def _stop_loading_timer(self, widget: Widget) -> None:
        timer = self._loading_timers.pop(widget, None)
        if timer is not None:
            timer.stop()

    def call_api(
        self,
        fn: Callable[[], T],
        done: Callable[[T], None],
        *,
        group: str = "load",
        failed: Callable[[CPayError], None] | None = None,
    ) -> None:
        """Run `fn` (blocking engine I/O) in a thread; `done(result)` runs on the UI thread.

        A newer call in the same group supersedes an older one: its answer is dropped.
        Errors are CPayError only (the engine's contract) and become a notification,
        or go to `failed` when given. The dashboard never crashes on them."""

        def job() -> None:
            worker = get_current_worker()
            try:
                result = fn()
            except CPayError as error:
                if not worker.is_cancelled:
                    self.app.call_from_thread(self._failed, error, failed)
                return
            if not worker.is_cancelled:
                self.app.call_from_thread(done, result)

        self.run_worker(job, thread=True, group=group, exclusive=True, exit_on_error=False)

    def _failed(self, error: CPayError, failed: Callable[[CPayError], None] | None) -> None:
        if failed is not None:
            failed(error)
        else:
            self.load_failed(error)

    def load_failed(self, error: CPayError) -> None:
        """A load without its own error handling failed: nothing more is coming for the
        widgets waiting on it (no endless loading indicator), and the error is shown.
        Screens add what they show instead (`g` tries again)."""
        self.done_loading(*self._loading_timers)
        self.notify(
            f"{error.message}\nPress g to try again.",
            title="Could not load",
            severity="error",
            timeout=8,
            markup=False,
        )
