"""CPayApp: modes for each screen, keys in the style of hledger-ui, the command palette."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from cpay_cli.tui.context import UiContext
from cpay_cli.tui.screens.account import AccountScreen
from cpay_cli.tui.screens.admin import AdminScreen
from cpay_cli.tui.screens.dashboard import DashboardScreen
from cpay_cli.tui.screens.help import HelpScreen
from cpay_cli.tui.screens.history import HistoryScreen
from cpay_cli.tui.screens.notifications import NotificationsScreen
from cpay_cli.tui.screens.pay import PayScreen
from cpay_engine.api import AccountView, PaymentsAPI
from cpay_engine.domain.model import Role

SCREENS = {
    "dashboard": ("d", "Dashboard", "Balances, latest activity, 30-day trend, attention"),
    "history": ("h", "History", "Every transaction; / to filter, Enter for detail"),
    "pay": ("p", "Pay", "Pay someone"),
    "notifications": ("n", "Notifications", "Payments received and failed"),
    "account": ("a", "Account", "Handle, role, device keys, profile and mode"),
    "admin": ("m", "Admin", "Mint Dabloons (admins only)"),
}


class CPayApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "CPay"
    MODES = {  # noqa: RUF012 - Textual reads this class attribute
        "dashboard": DashboardScreen,
        "history": HistoryScreen,
        "pay": PayScreen,
        "notifications": NotificationsScreen,
        "account": AccountScreen,
        "admin": AdminScreen,
    }
    DEFAULT_MODE = "dashboard"
    BINDINGS = [  # noqa: RUF012
        *[
            Binding(key, f"switch_mode('{mode}')", title, tooltip=help_text)
            for mode, (key, title, help_text) in SCREENS.items()
        ],
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, api: PaymentsAPI, context: UiContext, account: AccountView) -> None:
        super().__init__()
        self.api = api
        self.context = context
        self.account = account

    @property
    def is_admin(self) -> bool:
        return self.account.role is Role.ADMIN

    def on_mount(self) -> None:
        self.sub_title = (
            f"@{self.account.handle} · {self.account.role.value} · profile "
            f"{self.context.profile} ({self.context.mode})"
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "switch_mode" and parameters == ("admin",) and not self.is_admin)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, (key, title, help_text) in SCREENS.items():
            if mode == "admin" and not self.is_admin:
                continue
            yield SystemCommand(f"{title} ({key})", help_text, self._switcher(mode))
        yield SystemCommand("Help (?)", "Keys and what they do", self.action_help)

    def _switcher(self, mode: str) -> _Switch:
        return _Switch(self, mode)


class _Switch:
    """A callable for the command palette (a lambda in a loop would bind the last mode)."""

    def __init__(self, app: CPayApp, mode: str) -> None:
        self.app, self.mode = app, mode

    def __call__(self) -> None:
        self.app.switch_mode(self.mode)
