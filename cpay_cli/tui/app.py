"""CPayApp: modes for each screen, keys in the style of hledger-ui, the command palette.

Screens are imported when their mode is first entered, not with the app: a launch pays
only for the screen it opens on (`cpay ui --screen history` never builds the dashboard).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from cpay_cli.tui.context import UiContext
from cpay_cli.tui.modes import DEFAULT_SCREEN, SCREENS, ScreenName
from cpay_engine.api import AccountView, PaymentsAPI
from cpay_engine.domain.model import Role


def _dashboard() -> Screen[Any]:
    from cpay_cli.tui.screens.dashboard import DashboardScreen

    return DashboardScreen()


def _history() -> Screen[Any]:
    from cpay_cli.tui.screens.history import HistoryScreen

    return HistoryScreen()


def _pay() -> Screen[Any]:
    from cpay_cli.tui.screens.pay import PayScreen

    return PayScreen()


def _notifications() -> Screen[Any]:
    from cpay_cli.tui.screens.notifications import NotificationsScreen

    return NotificationsScreen()


def _account() -> Screen[Any]:
    from cpay_cli.tui.screens.account import AccountScreen

    return AccountScreen()


def _admin() -> Screen[Any]:
    from cpay_cli.tui.screens.admin import AdminScreen

    return AdminScreen()


# Textual accepts a callable per mode; these import the screen module on first entry.
MODE_SCREENS: dict[str, str | Callable[[], Screen[Any]]] = {
    ScreenName.DASHBOARD: _dashboard,
    ScreenName.HISTORY: _history,
    ScreenName.PAY: _pay,
    ScreenName.NOTIFICATIONS: _notifications,
    ScreenName.ACCOUNT: _account,
    ScreenName.ADMIN: _admin,
}


class CPayApp(App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "CPay"
    MODES = MODE_SCREENS  # Textual copies it per app in App.__init__
    DEFAULT_MODE = DEFAULT_SCREEN.value
    BINDINGS = [  # noqa: RUF012
        *[
            Binding(key, f"switch_mode('{mode}')", title, tooltip=help_text)
            for mode, (key, title, help_text) in SCREENS.items()
        ],
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        api: PaymentsAPI,
        context: UiContext,
        account: AccountView,
        *,
        start: ScreenName = DEFAULT_SCREEN,
    ) -> None:
        # App.__init__ makes the first mode's stack from DEFAULT_MODE and composes that
        # mode first, so the start screen is set on this instance before it runs: the
        # class default stays "dashboard", and the other modes are built when entered.
        self.DEFAULT_MODE = ScreenName(start).value  # type: ignore[misc]
        super().__init__()
        self.api = api
        self.context = context
        self.account = account
        # Payments sent and not yet answered (id -> what it pays): `cpay ui` reports any
        # still here when the dashboard closes, with the id to look it up by.
        self.in_flight: dict[str, str] = {}
        # Payments whose answer did not come in time (id -> what it pays): named at exit.
        self.unresolved: dict[str, str] = {}
        self._quit_warned = False
        if hasattr(api, "warn"):  # the remote cache's "offline: showing the cache": a
            api.warn = self.warn  # toast, not stderr behind the screen

    def warn(self, message: str) -> None:
        """A warning from the engine's side (the remote cache going offline), from any
        thread: shown as a toast (stderr is behind the screen)."""
        text = message.removeprefix("warning: ")
        try:
            self.call_from_thread(self.notify, text, title="Warning", severity="warning")
        except RuntimeError:  # on the app's own thread (or before it runs)
            self.notify(text, title="Warning", severity="warning")

    def payment_sent(self, payment_id: str, what: str) -> None:
        self.in_flight[payment_id] = what
        self.unresolved.pop(payment_id, None)
        self._quit_warned = False  # every payment on its way gets its warning

    def payment_answered(self, payment_id: str, *, unknown: bool) -> None:
        what = self.in_flight.pop(payment_id, "")
        if unknown:
            self.unresolved[payment_id] = what or self.unresolved.get(payment_id, "")
        else:
            self.unresolved.pop(payment_id, None)

    async def action_quit(self) -> None:
        """Quit; with a payment on its way, only when asked twice (the first time says
        what quitting now means)."""
        if self.in_flight and not self._quit_warned:
            self._quit_warned = True
            self.notify(
                "A payment is on its way: wait for its answer here, or quit again (its id "
                "is printed to look it up with `cpay show`).",
                title="Quit?",
                severity="warning",
            )
            return
        self.exit()

    @property
    def is_admin(self) -> bool:
        return self.account.role is Role.ADMIN

    def on_mount(self) -> None:
        if self.context.notice:
            self.notify(self.context.notice, title="Offline", severity="warning", timeout=15)
        self.sub_title = (
            f"@{self.account.handle} · {self.account.role.value} · profile "
            f"{self.context.profile} ({self.context.mode})"
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "switch_mode" and parameters == ("admin",) and not self.is_admin)

    def action_help(self) -> None:
        from cpay_cli.tui.screens.help import HelpScreen

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
