"""The dashboard's screens by name: their keys and help, known without importing Textual.

`cpay ui --screen NAME` checks its option against these names before Textual is loaded,
so this module must stay free of Textual (and of anything slow to import).
"""

from __future__ import annotations

from enum import StrEnum


class ScreenName(StrEnum):
    DASHBOARD = "dashboard"
    HISTORY = "history"
    PAY = "pay"
    NOTIFICATIONS = "notifications"
    ACCOUNT = "account"
    ADMIN = "admin"


# mode -> (key, title, what it shows); the order is the footer's and the palette's
SCREENS: dict[str, tuple[str, str, str]] = {
    ScreenName.DASHBOARD: ("d", "Dashboard", "Balances, latest activity, 30-day trend, attention"),
    ScreenName.HISTORY: ("h", "History", "Every transaction; / to filter, Enter for detail"),
    ScreenName.PAY: ("p", "Pay", "Pay someone"),
    ScreenName.NOTIFICATIONS: ("n", "Notifications", "Payments received and failed"),
    ScreenName.ACCOUNT: ("a", "Account", "Handle, role, device keys, profile and mode"),
    ScreenName.ADMIN: ("m", "Admin", "Mint Dabloons (admins only)"),
}
DEFAULT_SCREEN = ScreenName.DASHBOARD
ADMIN_ONLY = frozenset({ScreenName.ADMIN})
