"""`?`: the keys, in one place."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

# At most 66 columns a line (the dialog is 72 wide, less its border and padding), so the
# text never wraps, even in an 80-column terminal.
KEYS = """\
Screens (from anywhere)
  d  dashboard       h  history         p  pay
  n  notifications   a  account         m  admin (admins only)
Moving
  ↑ ↓ or k j   move              PgUp PgDn   page
  Home End     newest, oldest    Enter       open the detail
  /            filter the history (the same query as `cpay
               history --query`)
  Esc          back, close       g           refresh
Everywhere
  Ctrl+P       command palette   ?           this help
  q            quit

Filter examples:
  @bob · rent · status:failed · in · currency:DBL
  amount:10..50 · after:2026-11-01 · before:7d
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):  # scrolls (arrows, PgUp/PgDn) when cut
            yield Static("CPay keys", classes="title")
            yield Static(KEYS, markup=False)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
