"""History: the `/` filter, Esc to clear it, and Enter for a transaction's detail."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from cpay_cli.tui.screens.dashboard import DashboardScreen
from cpay_cli.tui.screens.detail import DetailScreen
from cpay_cli.tui.screens.history import HistoryScreen
from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.api import EngineKeyView
from tests.tui.helpers import cells, column, press, settle, shown
from tests.tui.seeding import MARKUP_MEMO_SHOWN, SeededWallet

BOBS_MEMOS = [MARKUP_MEMO_SHOWN, "rent share", "coffee", "lunch", "welcome"]


def history_table(pilot: Pilot[None]) -> DataTable[object]:
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    return screen.query_one("#history-table", DataTable)


async def filter_history(pilot: Pilot[None], query: str) -> None:
    await press(pilot, "slash", *query, "enter")


async def test_history_lists_every_transaction_newest_first(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await settle(pilot)
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


async def test_filtering_by_counterparty_keeps_only_their_rows(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await filter_history(pilot, "@carol")
        table = history_table(pilot)
        assert table.row_count == 2
        assert column(table, "Counterparty") == ["@carol", "@carol"]
        assert column(table, "Memo") == ["coffee", "lunch"]
        status = shown(pilot.app.screen.query_one("#history-status", Static))
        assert status.startswith("filter: @carol · 2 rows loaded")
        assert pilot.app.focused is table, "after Enter the rows take the keys again"


async def test_filtering_by_status_finds_the_failed_payment(seeded: SeededWallet) -> None:
    async with seeded.app("carol").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await filter_history(pilot, "status:failed")
        assert cells(history_table(pilot)) == [
            ["2026-03-02 09:07", "out", "@alice", "-500.00", "DBL", "failed", "too much"]
        ]


async def test_escape_clears_the_filter_and_every_row_comes_back(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await filter_history(pilot, "lunch")
        assert column(history_table(pilot), "Memo") == ["lunch"]
        await press(pilot, "escape")
        table = history_table(pilot)
        assert column(table, "Memo") == BOBS_MEMOS
        assert not pilot.app.screen.query_one("#filter", Input).display
        assert not shown(pilot.app.screen.query_one("#history-status", Static)).startswith(
            "filter:"
        )


async def test_escape_with_no_filter_goes_back_to_the_dashboard(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, DashboardScreen)


async def test_an_invalid_filter_is_reported_and_the_rows_stay(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await filter_history(pilot, "amount:x")
        assert column(history_table(pilot), "Memo") == BOBS_MEMOS
        notices = [n.message for n in pilot.app._notifications]
        assert len(notices) == 1


async def test_enter_on_a_row_opens_its_detail_with_a_verified_receipt(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await press(pilot, "down", "enter")  # the second row: bob's rent share to alice
        detail = pilot.app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.tx_id == "seed-pay-rent"
        summary = shown(detail.query_one("#detail-summary", Static))
        assert "From        @bob" in summary
        assert "To          @alice" in summary
        assert "Amount      40.00 DBL" in summary
        postings = cells(detail.query_one("#detail-postings", DataTable))
        assert sorted(amount for _, amount, _ in postings) == ["-40.00", "40.00"]
        assert shown(detail.query_one("#detail-receipt", Static)).startswith(
            "✔ signature verified"
        )
        await press(pilot, "escape")
        assert isinstance(pilot.app.screen, HistoryScreen)


async def test_enter_on_the_dashboards_latest_activity_opens_the_detail(
    seeded: SeededWallet,
) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await press(pilot, "tab")  # from the balances (no row cursor) to the activity
        assert pilot.app.focused is pilot.app.screen.query_one("#latest", DataTable)
        await press(pilot, "enter")
        detail = pilot.app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.tx_id == "seed-pay-prank"


async def test_the_detail_shows_a_hostile_memo_literally(seeded: SeededWallet) -> None:
    async with seeded.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await press(pilot, "enter")
        summary = shown(pilot.app.screen.query_one("#detail-summary", Static))
        assert f"Memo        {MARKUP_MEMO_SHOWN}" in summary
        assert "\x1b" not in summary


def _stranger_key(seeded: SeededWallet) -> tuple[EngineKeyView, ...]:
    impostor = SigningKey.generate()
    return (EngineKeyView(seeded.wallet.engine_key.key_id, impostor.public_key),)


@pytest.mark.parametrize(
    "trusted",
    [lambda _seeded: (), _stranger_key],
    ids=["no-trusted-keys", "wrong-key-under-the-engines-id"],
)
async def test_a_receipt_not_signed_by_a_trusted_key_says_not_verified(
    seeded: SeededWallet,
    trusted: object,
) -> None:
    keys = trusted(seeded)  # type: ignore[operator]
    app = seeded.app("bob", context=seeded.context(trusted=keys))
    async with app.run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await press(pilot, "enter")
        receipt = shown(pilot.app.screen.query_one("#detail-receipt", Static))
        assert receipt.startswith("✘ NOT verified")
        assert "signature verified" not in receipt


async def test_a_failed_payment_has_no_receipt_and_says_why(seeded: SeededWallet) -> None:
    async with seeded.app("carol").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await filter_history(pilot, "status:failed")
        await press(pilot, "enter")
        detail = pilot.app.screen
        assert isinstance(detail, DetailScreen)
        summary = shown(detail.query_one("#detail-summary", Static))
        assert "Status      failed — insufficient funds: @carol cannot pay 500.00 DBL" in summary
        receipt = shown(detail.query_one("#detail-receipt", Static))
        assert "verified" not in receipt.replace("not verified", "")
