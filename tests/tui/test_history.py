"""History: the `/` filter, Esc to clear it, and Enter for a transaction's detail."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from cpay_cli.tui.screens.dashboard import DashboardScreen
from cpay_cli.tui.screens.detail import DetailScreen
from cpay_cli.tui.screens.history import HistoryScreen
from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.api import EngineKeyView
from tests.tui.helpers import cells, column, drawn, paste, press, settle, shown
from tests.tui.seeding import MARKUP_MEMO_SHOWN, SeededWallet

BOBS_MEMOS = [MARKUP_MEMO_SHOWN, "rent share", "coffee", "lunch", "welcome"]


def history_table(pilot: Pilot[None]) -> DataTable[object]:
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    return screen.query_one("#history-table", DataTable)


def history_status(pilot: Pilot[None]) -> str:
    return shown(pilot.app.screen.query_one("#history-status", Static))


async def filter_history(pilot: Pilot[None], query: str, *, typed: bool = False) -> None:
    """`/`, the query (typed key by key, or pasted), Enter."""
    if typed:
        await press(pilot, "slash", *query, "enter")
        return
    await press(pilot, "slash")
    await paste(pilot, "#filter", query)
    await press(pilot, "enter")


async def test_history_lists_every_transaction_newest_first(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        table = history_table(pilot)
        assert column(table, "Memo") == BOBS_MEMOS
        assert cells(table)[1] == [
            "2026-03-02 09:06",
            "out",
            "@alice",
            "-40.00",
            "DBL",
            "completed",
            "rent share",
        ]
        assert history_status(pilot).startswith("5 rows loaded · oldest shown")
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, DashboardScreen), "Esc with no filter: back"


async def test_amounts_are_right_aligned_so_their_decimal_points_line_up(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        lines = shown(history_table(pilot)).splitlines()
        header, rows = lines[0], [line for line in lines[1:] if line.strip()]
        amounts = column(history_table(pilot), "Amount")
        assert len(rows) == len(amounts) == len(BOBS_MEMOS)
        # Each amount ends where the header's "Amount" ends; amounts of different
        # widths (-40.00 next to +1000.00) so share their decimal point's column.
        end = header.index("Amount") + len("Amount")
        points = set()
        for line, amount in zip(rows, amounts, strict=True):
            assert line[end - len(amount) : end] == amount, (line, amount)
            points.add(end - len(amount) + amount.index("."))
        assert len(points) == 1
        assert len({len(amount) for amount in amounts}) > 1, "the seeded amounts differ in width"


async def test_a_filter_keeps_only_matching_rows_and_escape_brings_every_row_back(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await filter_history(pilot, "@carol", typed=True)
        table = history_table(pilot)
        assert table.row_count == 2
        assert column(table, "Counterparty") == ["@carol", "@carol"]
        assert column(table, "Memo") == ["coffee", "lunch"]
        assert history_status(pilot).startswith("filter: @carol · 2 rows loaded")
        assert pilot.app.focused is table, "after Enter the rows take the keys again"

        await press(pilot, "escape")
        assert column(table, "Memo") == BOBS_MEMOS
        assert not pilot.app.screen.query_one("#filter", Input).display
        assert not history_status(pilot).startswith("filter:")
        assert isinstance(pilot.app.screen, HistoryScreen)


async def test_an_invalid_filter_is_reported_and_the_rows_stay(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30), notifications=True) as pilot:
        await press(pilot, "h")
        await filter_history(pilot, "amount:lots")
        assert column(history_table(pilot), "Memo") == BOBS_MEMOS
        toasts = [" ".join(shown(toast).split()) for toast in pilot.app.screen.query("Toast")]
        assert len(toasts) == 1
        assert "'lots' is not an amount" in toasts[0]


async def test_a_failed_payment_can_be_found_and_its_detail_says_why_without_a_receipt(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("carol").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await filter_history(pilot, "status:failed")
        assert cells(history_table(pilot)) == [
            ["2026-03-02 09:07", "out", "@alice", "-500.00", "DBL", "failed", "too much"]
        ]
        await press(pilot, "enter")
        detail = pilot.app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.tx_id == "seed-pay-too-much"
        summary = " ".join(
            (await drawn(pilot, detail.query_one("#detail-summary", Static))).split()
        )
        assert "Status failed — insufficient funds: @carol cannot pay 500.00 DBL" in summary
        status = detail.query_one("#detail-status-history", Static)
        history = " ".join((await drawn(pilot, status)).split())
        assert history.startswith("2026-03-02 09:07 UTC failed — insufficient funds: @carol")
        receipt = await drawn(pilot, detail.query_one("#detail-receipt", Static))
        assert receipt == "No receipt (only completed transactions have one)."


async def test_enter_on_a_row_opens_its_detail_with_a_verified_receipt(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await press(pilot, "down", "enter")  # the second row: bob's rent share to alice
        detail = pilot.app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.tx_id == "seed-pay-rent"
        summary = await drawn(pilot, detail.query_one("#detail-summary", Static))
        assert "From        @bob" in summary
        assert "To          @alice" in summary
        assert "Amount      40.00 DBL" in summary
        assert "Memo        rent share" in summary
        status_history = await drawn(pilot, detail.query_one("#detail-status-history", Static))
        assert status_history == "2026-03-02 09:06 UTC  completed"
        postings = cells(detail.query_one("#detail-postings", DataTable))
        assert sorted(amount for _, amount, _ in postings) == ["-40.00", "40.00"]
        receipt = await drawn(pilot, detail.query_one("#detail-receipt", Static))
        assert receipt.startswith("✔ signature verified")
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, HistoryScreen)
        assert history_table(pilot).cursor_row == 1, "back where we were"


async def test_the_detail_shows_a_hostile_memo_literally(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        # the balances have no row cursor: focus starts on the latest activity
        assert pilot.app.focused is pilot.app.screen.query_one("#latest", DataTable)
        await press(pilot, "enter")
        detail = pilot.app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.tx_id == "seed-pay-prank"
        summary = await drawn(pilot, detail.query_one("#detail-summary", Static))
        assert f"Memo        {MARKUP_MEMO_SHOWN}" in summary
        assert "\x1b" not in summary


# history.py: HistoryScreen, unlike DashboardScreen and NotificationsScreen, has no
# on_screen_resume: switching back to it shows the rows loaded when it was first opened.
async def test_a_payment_just_made_is_in_the_history_on_coming_back(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        assert column(history_table(pilot), "Memo") == BOBS_MEMOS
        await press(pilot, "j", "j")
        assert history_table(pilot).cursor_row == 2
        await press(pilot, "p")
        for field, text in (("#recipient", "@carol"), ("#amount", "1"), ("#memo", "just now")):
            await paste(pilot, field, text)
        await press(pilot, "ctrl+s")  # the dialog opens once the funds are read
        await press(pilot, "y")
        assert seeded.api("bob").history(limit=1).transactions[0].memo == "just now"
        await press(pilot, "escape", "h")
        assert column(history_table(pilot), "Memo") == ["just now", *BOBS_MEMOS]
        assert history_table(pilot).cursor_row == 3, "still on the row it was on"


def _stranger_key(seeded: SeededWallet) -> tuple[EngineKeyView, ...]:
    """The engine's key id, but someone else's public key."""
    impostor = SigningKey.generate()
    return (EngineKeyView(seeded.wallet.engine_key.key_id, impostor.public_key),)


def _no_keys(_seeded: SeededWallet) -> tuple[EngineKeyView, ...]:
    return ()


@pytest.mark.parametrize(
    "trusted", [_no_keys, _stranger_key], ids=["no-trusted-keys", "wrong-key-under-the-engines-id"]
)
async def test_a_receipt_not_signed_by_a_trusted_key_says_not_verified(
    seeded: SeededWallet,
    trusted: Callable[[SeededWallet], tuple[EngineKeyView, ...]],
) -> None:
    keys = trusted(seeded)
    app = seeded.app("bob", context=seeded.context(trusted=keys))
    async with app.run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")  # the first page loads in a worker: settle before Enter
        await press(pilot, "enter")
        assert isinstance(pilot.app.screen, DetailScreen)
        receipt = await drawn(pilot, pilot.app.screen.query_one("#detail-receipt", Static))
        assert receipt.startswith("✘ NOT verified")
        assert "signature verified" not in receipt


async def test_a_filter_that_matches_nothing_says_so(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h", "slash")
        await paste(pilot, "#filter", "nothing-like-this")
        await press(pilot, "enter")
        assert history_table(pilot).row_count == 0
        assert history_status(pilot).startswith(
            "filter: nothing-like-this · no transactions match · Esc clears the filter"
        )
