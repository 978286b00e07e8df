"""Moving around: screen keys, admin-only minting, help, quitting, the command palette."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from cpay_cli.tui.base import LOADING_DELAY_S
from cpay_cli.tui.screens.account import AccountScreen
from cpay_cli.tui.screens.admin import AdminScreen
from cpay_cli.tui.screens.confirm import ConfirmScreen
from cpay_cli.tui.screens.dashboard import DashboardScreen
from cpay_cli.tui.screens.detail import DetailScreen
from cpay_cli.tui.screens.help import KEYS, HelpScreen
from cpay_cli.tui.screens.history import HistoryScreen
from cpay_cli.tui.screens.notifications import NotificationsScreen
from cpay_cli.tui.screens.pay import PayScreen
from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.api import KeyView
from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.errors import Unavailable
from tests.tui.helpers import cells, column, paste, press, settle, shown
from tests.tui.seeding import CAROL_AVAILABLE, MARKUP_MEMO_SHOWN, SeededWallet


def palette_entries(pilot: Pilot[None]) -> list[str]:
    """The first line of every entry the command palette offers right now."""
    listing = pilot.app.screen.query_one(CommandList)
    return [
        str(listing.get_option_at_index(i).prompt).split("\n")[0]
        for i in range(listing.option_count)
    ]


async def test_m_opens_minting_for_an_admin_and_a_mint_reaches_the_recipient(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("alice").run_test(size=(100, 30)) as pilot:
        await press(pilot, "m")
        admin = pilot.app.screen
        assert isinstance(admin, AdminScreen)
        assert not admin.query("#currency"), "only Dabloons are minted: no currency field"
        await paste(pilot, "#recipient", "@carol")
        await paste(pilot, "#amount", "5")
        await press(pilot, "ctrl+s")
        assert isinstance(pilot.app.screen, ConfirmScreen)
        await press(pilot, "y")
        result = " ".join(shown(admin.query_one("#result", Static)).split())
        assert result.startswith("Done: 5.00 DBL to @carol — completed")
    assert seeded.available("carol") == CAROL_AVAILABLE + 5_00


async def test_a_user_cannot_reach_minting_by_key_or_by_palette(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await press(pilot, "m")
        assert isinstance(pilot.app.screen, DashboardScreen)
        assert pilot.app.current_mode == "dashboard"
        await press(pilot, "ctrl+p")
        entries = palette_entries(pilot)
        assert "Pay (p)" in entries
        assert "Admin (m)" not in entries


async def test_question_mark_opens_the_keys_and_escape_closes_them(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(80, 24)) as pilot:
        await press(pilot, "question_mark")
        help_screen = pilot.app.screen
        assert isinstance(help_screen, HelpScreen)
        drawn = [line.strip() for s in help_screen.query(Static) for line in shown(s).split("\n")]
        # In an 80-column terminal every line of the keys is drawn whole, none wrapped.
        for line in KEYS.splitlines():
            assert line.strip() in drawn, line
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, DashboardScreen)


async def test_q_quits(seeded: SeededWallet) -> None:
    app = seeded.app("bob")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_the_command_palette_lists_the_screens_and_switches_to_one(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("alice").run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await press(pilot, "ctrl+p")
        assert isinstance(pilot.app.screen, CommandPalette)
        entries = palette_entries(pilot)
        for screen in ("Dashboard (d)", "History (h)", "Pay (p)", "Notifications (n)"):
            assert screen in entries
        assert {"Account (a)", "Admin (m)", "Help (?)"} <= set(entries)
        await press(pilot, *"History")
        assert palette_entries(pilot) == ["History (h)"]
        await press(pilot, "enter")
        assert isinstance(pilot.app.screen, HistoryScreen)
        assert pilot.app.current_mode == "history"


async def test_notifications_show_payments_received_with_memos_as_written(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "n")
        table = pilot.app.screen.query_one("#notifications", DataTable)
        assert column(table, "What") == [
            "Received from @alice",
            "Received from @carol",
            "Received from treasury",
        ]
        assert column(table, "Memo")[0] == MARKUP_MEMO_SHOWN


async def test_notifications_tell_the_payer_about_a_failed_payment(seeded: SeededWallet) -> None:
    async with seeded.app("carol").run_test(size=(100, 30)) as pilot:
        await press(pilot, "n")
        table = pilot.app.screen.query_one("#notifications", DataTable)
        assert cells(table)[0][1:] == ["Payment to @alice failed", "-500.00", "too much"]


async def test_the_account_screen_says_who_and_where_this_is(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "a")
        screen = pilot.app.screen
        assert isinstance(screen, AccountScreen)
        summary = shown(screen.query_one("#account-summary", Static))
        assert "Handle    @bob" in summary
        assert "Role      user" in summary
        assert "Profile   test (local mode)" in summary
        keys = cells(screen.query_one("#keys", DataTable))
        assert [(key, status, here) for key, status, _, here in keys] == [
            (seeded.wallet.keys["bob"].key_id, "active", "yes")
        ]


# Every screen at the smallest supported terminal: keys -> the screen they must lead to.
SMALL_TOUR: list[tuple[tuple[str, ...], type[object]]] = [
    (("d",), DashboardScreen),
    (("h",), HistoryScreen),
    (("enter",), DetailScreen),
    (("escape",), HistoryScreen),
    (("p",), PayScreen),
    (("@", "b", "o", "b", "tab", "1", "ctrl+s"), ConfirmScreen),
    (("escape",), PayScreen),
    (("escape",), DashboardScreen),  # letters typed into a form are text: leave it first
    (("n",), NotificationsScreen),
    (("a",), AccountScreen),
    (("m",), AdminScreen),
    (("escape",), DashboardScreen),
    (("question_mark",), HelpScreen),
]


async def test_every_screen_renders_at_the_smallest_supported_size(seeded: SeededWallet) -> None:
    app = seeded.app("alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for keys, expected in SMALL_TOUR:
            await press(pilot, *keys)
            screen = pilot.app.screen
            assert isinstance(screen, expected), f"after {keys}: {screen}"
            assert app.return_code is None, f"the app stopped after {keys}"
            drawn = [shown(widget) for widget in screen.query(Static)]
            assert any(line.strip() for line in drawn), f"{expected.__name__} drew nothing"


async def test_the_account_screen_checks_its_key_again_when_it_comes_back(
    seeded: SeededWallet,
) -> None:
    """`cpay key rotate` elsewhere revokes the key this dashboard signs with: back on the
    account screen, it says so (no stale "active", no endless loading indicator)."""
    async with seeded.app("alice").run_test(size=(100, 30)) as pilot:
        await press(pilot, "a")
        seeded.api("alice").rotate_key(SigningKey.generate())
        await press(pilot, "d")
        await press(pilot, "a")
        await pilot.pause(LOADING_DELAY_S * 2)
        assert not pilot.app.screen.query_one("#keys", DataTable).loading
        messages = [n.message for n in pilot.app._notifications]
        revoked = seeded.wallet.keys["alice"].key_id
        assert any(m.startswith(f"key {revoked} was revoked") for m in messages), messages


class KeysUnreachable(SignedClient):
    """bob's real client, whose key list cannot be read (the server went away)."""

    def list_keys(self) -> list[KeyView]:
        raise Unavailable("cannot reach the CPay server at 127.0.0.1:1 (connection refused)")


async def test_a_load_that_fails_leaves_no_endless_loading_indicator(
    seeded: SeededWallet,
) -> None:
    link = KeysUnreachable(
        InProcessTransport(seeded.wallet.engine), seeded.wallet.keys["bob"], clock=seeded.clock
    )
    async with seeded.app("bob", api=link).run_test(size=(100, 30)) as pilot:
        await press(pilot, "a")
        await pilot.pause(LOADING_DELAY_S * 2)  # past the delay after which it would show
        table = pilot.app.screen.query_one("#keys", DataTable)
        assert not table.loading
        [message] = [n.message for n in pilot.app._notifications]
        assert message.startswith("cannot reach the CPay server")
        assert message.endswith("Press g to try again.")


async def test_j_k_home_and_end_move_in_the_dashboards_latest_activity(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        latest = pilot.app.screen.query_one("#latest", DataTable)
        assert latest.cursor_row == 0
        await press(pilot, "j", "j")
        assert latest.cursor_row == 2
        await press(pilot, "k")
        assert latest.cursor_row == 1
        await press(pilot, "end")
        assert latest.cursor_row == latest.row_count - 1
        await press(pilot, "home")
        assert latest.cursor_row == 0


async def test_the_account_screen_names_the_key_the_dashboard_signs_with_now(
    seeded: SeededWallet,
) -> None:
    """'Signs as' kept the key the dashboard started with after a rotation."""
    client = SignedClient(
        InProcessTransport(seeded.wallet.engine), seeded.wallet.keys["bob"], clock=seeded.clock
    )
    async with seeded.app("bob", api=client).run_test(size=(100, 30)) as pilot:
        await press(pilot, "a")
        summary = pilot.app.screen.query_one("#account-summary", Static)
        assert f"Signs as  {seeded.wallet.keys['bob'].key_id}" in shown(summary)
        new = SigningKey.generate()
        client.rotate_key(new)  # as the dashboard's client follows a rotation
        await press(pilot, "g")
        assert f"Signs as  {new.key_id}" in shown(summary)
