"""A yes/no modal: money never moves without it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from cpay_cli.tui.format import literal


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [  # noqa: RUF012
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "cancel", "No", show=False),
        Binding("y", "confirm", "Yes", show=False),
    ]

    def __init__(self, title: str, lines: list[str], confirm_label: str = "Pay") -> None:
        super().__init__()
        self._title = title
        self._lines = lines
        self._confirm_label = confirm_label

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            # What is being paid scrolls above buttons that stay in view: on a small
            # terminal the dialog used to open scrolled down to its buttons, its first
            # lines ("Pay 0.01 DBL to @bob") out of sight.
            with VerticalScroll(id="dialog-body"):
                yield Static(self._title, classes="title", markup=False)
                for line in self._lines:
                    yield Static(literal(line))
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self._confirm_label, id="confirm", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        self.dismiss(True)
