"""History pages from the store by keyset: one page at first, more as the cursor nears the end.

One wallet with 600 transactions for @bob, shared by the tests here (they only read).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from cpay_cli.tui.screens.history import PAGE, PREFETCH_MARGIN, HistoryScreen
from tests.tui.helpers import press, shown
from tests.tui.seeding import SeededWallet

MINTS = 600


def memo(n: int) -> str:
    return f"mint #{n:04d}"


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededWallet]:
    """@bob has received 600 mints: memo 'mint #0001' (oldest) to 'mint #0600' (newest)."""
    wallet = SeededWallet.create(tmp_path_factory.mktemp("busy") / "wallet.db")
    wallet.add_user("bob")
    for n in range(1, MINTS + 1):
        wallet.mint(f"busy-mint-{n:04d}", "bob", n, memo(n))
    yield wallet
    wallet.wallet.close()


def table(pilot: Pilot[None]) -> DataTable[object]:
    screen = pilot.app.screen
    assert isinstance(screen, HistoryScreen)
    return screen.query_one("#history-table", DataTable)


def memo_at(grid: DataTable[object], row: int) -> str:
    return str(grid.get_row_at(row)[-1])


def status(pilot: Pilot[None]) -> str:
    return shown(pilot.app.screen.query_one("#history-status", Static))


async def test_history_starts_with_one_page_of_the_newest_rows(busy: SeededWallet) -> None:
    async with busy.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        grid = table(pilot)
        assert grid.row_count == PAGE == 100
        assert memo_at(grid, 0) == memo(600)
        assert memo_at(grid, 99) == memo(501)
        assert "100 rows loaded · older rows below" in status(pilot)


async def test_moving_near_the_end_of_the_page_loads_the_next_older_page(
    busy: SeededWallet,
) -> None:
    async with busy.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        grid = table(pilot)
        while grid.row_count == PAGE and grid.cursor_row < PAGE - 1:
            await press(pilot, "pagedown")
        assert grid.row_count == 2 * PAGE
        rows = [memo_at(grid, i) for i in range(grid.row_count)]
        assert rows == [memo(n) for n in range(600, 400, -1)], "in order, no gaps or repeats"
        assert "200 rows loaded" in status(pilot)


async def test_home_goes_back_to_the_newest_page_after_paging_down(busy: SeededWallet) -> None:
    async with busy.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        grid = table(pilot)
        while grid.row_count == PAGE:
            await press(pilot, "pagedown")
        await press(pilot, "home")
        assert grid.row_count == PAGE
        assert grid.cursor_row == 0
        assert memo_at(grid, 0) == memo(600)
        assert memo(600) in shown(grid)


# history.py: HistoryScreen._replace clears the table and re-adds rows; adding the first
# row makes DataTable post RowHighlighted(row 0), and `_fetching` is already False again
# when it arrives, so on a window with a newer cursor (the one End builds) the handler
# fetches the newer page, whose _replace does the same: End loads every page back up to
# the newest and leaves the cursor on the newest row.
async def test_end_shows_the_oldest_page_and_reaching_its_top_loads_one_newer_page(
    busy: SeededWallet,
) -> None:
    async with busy.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        await press(pilot, "end")
        grid = table(pilot)
        assert memo(1) in shown(grid), "the oldest transaction is on screen"
        assert grid.cursor_row == grid.row_count - 1, "the cursor is on the oldest transaction"
        assert memo_at(grid, grid.cursor_row) == memo(1)
        assert grid.row_count == PAGE, "one page, not the whole history"
        assert "newer rows above" in status(pilot)

        top = memo_at(grid, 0)
        while grid.row_count == PAGE and grid.cursor_row > 0:
            await press(pilot, "pageup")
        assert grid.row_count == 2 * PAGE
        assert memo_at(grid, grid.cursor_row) == top, "the cursor stays on its transaction"
        rows = [memo_at(grid, i) for i in range(grid.row_count)]
        assert rows == [memo(n) for n in range(200, 0, -1)], "in order, no gaps or repeats"


async def test_back_from_the_detail_keeps_every_loaded_row_and_the_cursor_on_its_row(
    busy: SeededWallet,
) -> None:
    async with busy.app("bob").run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        grid = table(pilot)
        while grid.cursor_row < PAGE + PREFETCH_MARGIN:  # into the second page
            await press(pilot, "pagedown")
        on, loaded = memo_at(grid, grid.cursor_row), grid.row_count
        await press(pilot, "enter")
        await press(pilot, "escape")
        grid = table(pilot)
        assert grid.row_count == loaded
        assert memo_at(grid, grid.cursor_row) == on
