"""Opening on another screen (`cpay ui --screen history`), the key bar, and the dashboard
giving way: it stops loading once another screen is in front."""

from __future__ import annotations

import io
from typing import Any, cast

import pytest
from textual.widgets import DataTable

from cpay_cli.commands.ui import open_dashboard
from cpay_cli.session import Session
from cpay_cli.tui.keybar import KeyBar
from cpay_cli.tui.modes import ScreenName
from cpay_cli.tui.screens.dashboard import DashboardScreen, load_trend
from cpay_cli.tui.screens.history import HistoryScreen
from cpay_engine.api import PaymentsAPI
from cpay_engine.errors import InvalidInput, PermissionDenied
from tests.tui.helpers import column, press, settle, shown
from tests.tui.seeding import MARKUP_MEMO_SHOWN, SeededWallet

NEWEST_FIRST = [MARKUP_MEMO_SHOWN, "rent share", "coffee", "lunch", "welcome"]


class CountingApi:
    """The engine client, counting the calls made through it (a fake would drift)."""

    def __init__(self, inner: PaymentsAPI) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if callable(attribute):
            self.calls.append(name)
        return attribute


async def test_opening_on_history_shows_the_newest_page_and_never_loads_the_dashboard(
    seeded: SeededWallet,
) -> None:
    api = CountingApi(seeded.api("bob"))
    app = seeded.app("bob", api=cast(PaymentsAPI, api), start=ScreenName.HISTORY)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, HistoryScreen)
        assert app.current_mode == "history"
        table = app.screen.query_one("#history-table", DataTable)
        assert column(table, "Memo") == NEWEST_FIRST
        assert table.has_focus
        assert "balances" not in api.calls, "the dashboard was loaded though never shown"
        await press(pilot, "d")  # the dashboard is built when first asked for
        assert isinstance(app.screen, DashboardScreen)
        assert "balances" in api.calls
        await press(pilot, "h")
        assert isinstance(app.screen, HistoryScreen)


async def test_escape_on_history_opened_first_goes_to_the_dashboard(seeded: SeededWallet) -> None:
    async with seeded.app("bob", start=ScreenName.HISTORY).run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, DashboardScreen)


async def test_the_key_bar_shows_the_screens_keys_and_a_click_presses_one(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob", start=ScreenName.HISTORY).run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        bar = pilot.app.screen.query_one(KeyBar)
        line = shown(bar)
        assert line.startswith(" / Filter  g Refresh  d Dashboard  h History")
        assert "m Admin" not in line, "bob is no admin: no minting key"
        assert line.endswith("^p palette")
        await pilot.click(KeyBar, offset=(line.index("d Dashboard") + 2, 0))
        await settle(pilot)
        assert isinstance(pilot.app.screen, DashboardScreen)
        assert shown(pilot.app.screen.query_one(KeyBar)).startswith(" g Refresh  d Dashboard")


@pytest.mark.parametrize(
    ("width", "left_out"),
    [
        (140, []),
        (80, ["n Notifications", "a Account", "m Admin"]),
    ],
)
async def test_a_narrow_key_bar_leaves_out_screen_switches_last_first_and_keeps_help(
    seeded: SeededWallet, width: int, left_out: list[str]
) -> None:
    async with seeded.app("alice").run_test(size=(width, 24)) as pilot:
        await settle(pilot)
        line = shown(pilot.app.screen.query_one(KeyBar))
        for key in ["g Refresh", "d Dashboard", "h History", "p Pay", "? Help", "q Quit"]:
            assert f" {key} " in line, (key, line)
        for key in ["n Notifications", "a Account", "m Admin"]:
            assert (key in line) is (key not in left_out), (key, line)
        assert line.endswith("^p palette")


def test_a_stopped_trend_load_reads_nothing_more(seeded: SeededWallet) -> None:
    api = CountingApi(seeded.api("bob"))
    trend = load_trend(cast(PaymentsAPI, api), seeded.clock(), stopped=lambda: True)
    assert api.calls == []
    assert trend.attention == []
    assert sum(trend.money_in) == sum(trend.money_out) == 0


async def test_the_dashboard_loads_again_when_shown_again(seeded: SeededWallet) -> None:
    api = CountingApi(seeded.api("bob"))
    async with seeded.app("bob", api=cast(PaymentsAPI, api)).run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert api.calls.count("balances") == 1
        await press(pilot, "h")
        await press(pilot, "d")
        assert api.calls.count("balances") == 2
        latest = pilot.app.screen.query_one("#latest", DataTable)
        assert column(latest, "Memo") == NEWEST_FIRST


class OneUserSession:
    """What open_dashboard asks of a Session, for one seeded user."""

    def __init__(self, seeded: SeededWallet, handle: str) -> None:
        self.client = seeded.api(handle)
        self.asked = 0

    def api(self, *also: str) -> PaymentsAPI:
        self.asked += 1
        return self.client


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_opening_on_minting_is_refused_to_a_user_before_the_screen_is_taken(
    seeded: SeededWallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    for stream in ("stdin", "stdout", "stderr"):
        monkeypatch.setattr(f"sys.{stream}", _Terminal())
    with pytest.raises(PermissionDenied, match="admin screen is for admins; @bob"):
        open_dashboard(cast(Session, OneUserSession(seeded, "bob")), start=ScreenName.ADMIN)


def test_without_a_terminal_the_dashboard_says_so_instead_of_drawing_into_a_pipe(
    seeded: SeededWallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in `cpay ui > file` or a script: refused before the key or the engine is used."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("sys.stdout", io.StringIO())
    session = OneUserSession(seeded, "alice")
    with pytest.raises(InvalidInput, match="cpay ui needs a terminal"):
        open_dashboard(cast(Session, session), start=ScreenName.HISTORY)
    assert session.asked == 0


def test_with_its_error_output_redirected_the_dashboard_refuses_too(
    seeded: SeededWallet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cpay ui 2>file`: Textual draws on stderr, so the dashboard went into the file and
    the terminal stayed blank while keys still acted."""
    monkeypatch.setattr("sys.stdin", _Terminal())
    monkeypatch.setattr("sys.stdout", _Terminal())
    monkeypatch.setattr("sys.stderr", io.StringIO())
    session = OneUserSession(seeded, "alice")
    with pytest.raises(InvalidInput, match="error output is redirected"):
        open_dashboard(cast(Session, session), start=ScreenName.HISTORY)
    assert session.asked == 0
