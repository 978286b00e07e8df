"""Screen plumbing: run an engine call in a thread worker and come back on the UI thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

from textual.screen import Screen
from textual.worker import get_current_worker

from cpay_engine.errors import CPayError

if TYPE_CHECKING:
    from cpay_cli.tui.app import CPayApp

T = TypeVar("T")


class CPayScreen(Screen[None]):
    """A screen that talks to PaymentsAPI only from workers."""

    @property
    def cpay(self) -> CPayApp:
        return cast("CPayApp", self.app)

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
