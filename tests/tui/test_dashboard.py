"""The dashboard: balances as the engine has them, the latest activity, what needs attention."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Static

from cpay_engine.domain.money import format_amount
from cpay_engine.service.engine import wall_clock_ms
from tests.tui.helpers import cells, column, settle, shown
from tests.tui.seeding import (
    BOB_AVAILABLE,
    MARKUP_MEMO_SHOWN,
    SeededWallet,
    seed_story,
)


async def test_dashboard_shows_the_available_balance_the_engine_reports(
    seeded: SeededWallet,
) -> None:
    app = seeded.app("bob")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        balances = app.screen.query_one("#balances", DataTable)
        assert seeded.available("bob") == BOB_AVAILABLE
        assert cells(balances) == [["DBL", format_amount(BOB_AVAILABLE, "DBL"), "0.00"]]
        assert shown(balances).splitlines()[1].split() == ["DBL", "208.27", "0.00"]


async def test_dashboard_lists_the_latest_activity_newest_first(seeded: SeededWallet) -> None:
    app = seeded.app("bob")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        latest = app.screen.query_one("#latest", DataTable)
        assert column(latest, "Memo") == [
            MARKUP_MEMO_SHOWN,
            "rent share",
            "coffee",
            "lunch",
            "welcome",
        ]
        assert column(latest, "Amount") == ["+7.77", "-40.00", "+3.00", "-12.50", "+250.00"]
        assert column(latest, "Counterparty") == [
            "@alice",
            "@alice",
            "@carol",
            "@carol",
            "treasury",
        ]


async def test_a_memo_with_markup_and_an_escape_sequence_is_drawn_literally(
    seeded: SeededWallet,
) -> None:
    app = seeded.app("bob")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        drawn = shown(app.screen.query_one("#latest", DataTable))
        assert "[bold red]pwned[/]" in drawn
        assert "\\x1b[31mred" in drawn
        assert "\x1b" not in drawn


async def test_a_failure_older_than_a_week_no_longer_needs_attention(
    seeded: SeededWallet,
) -> None:
    # carol's failed payment is from the fixed seeding date, months before today
    app = seeded.app("carol")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert "failed" in column(app.screen.query_one("#latest", DataTable), "Status")
        assert shown(app.screen.query_one("#attention", Static)) == "Nothing needs attention."


async def test_this_weeks_activity_fills_the_trend_and_a_failed_payment_needs_attention(
    tmp_path: Path,
) -> None:
    # The trend and the attention panel look back from the wall clock: this story is now.
    recent = SeededWallet.create(tmp_path / "recent.db", now_ms=wall_clock_ms())
    try:
        seed_story(recent)
        app = recent.app("carol")
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot)
            attention = shown(app.screen.query_one("#attention", Static))
            assert attention.strip() == "failed  500.00 DBL to @alice  seed-pay-too-much"
            money_in = shown(app.screen.query_one("#trend-in-label", Static))
            money_out = shown(app.screen.query_one("#trend-out-label", Static))
            assert money_in == "In, 30 days: 92.50 DBL"  # welcome 80 + lunch 12.50
            assert money_out == "Out, 30 days: 3.00 DBL"  # coffee; the failed 500 moved nothing
    finally:
        recent.wallet.close()
