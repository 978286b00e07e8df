"""Screen plumbing: run an engine call in a thread worker and come back on the UI thread,
with a loading indicator on the widgets waiting for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from textual.screen import Screen
from textual.widget import Widget
from textual.worker import get_current_worker

from cpay_engine.errors import CPayError

if TYPE_CHECKING:
    from cpay_cli.tui.app import CPayApp

T = TypeVar("T")


def worker_cancelled() -> bool:
    """In a thread worker: has it been cancelled? (Textual cannot stop a thread; a long
    job asks this between engine calls and gives up.)"""
    return get_current_worker().is_cancelled


class CPayScreen(Screen[None]):
    """A screen that talks to PaymentsAPI only from workers."""

    @property
    def cpay(self) -> CPayApp:
        return cast("CPayApp", self.app)

    def mark_loading(self, *widgets: Widget) -> None:
        """The widgets' data is on its way: they show the loading indicator until
        `done_loading`. (Shown at once, not after a delay: with a delayed indicator, a
        DataTable filled before the delay ran out sometimes kept its header-wide columns
        on a loaded machine, measured by bench/tui_history's terminal launches.)"""
        for widget in widgets:
            widget.loading = True

    def done_loading(self, *widgets: Widget) -> None:
        for widget in widgets:
            widget.loading = False

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
            self.notify(error.message, title="CPay", severity="error", timeout=8, markup=False)
