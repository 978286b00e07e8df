"""The dashboard is transport-agnostic: the same flow over gRPC (RemoteEngine)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from cpay_cli.cache import CachingEngine, HistoryCache
from cpay_cli.tui.screens.detail import DetailScreen
from cpay_cli.tui.screens.history import HistoryScreen
from cpay_engine.client import SignedClient
from cpay_engine.domain.money import format_amount
from cpay_engine.rpc.server import RunningServer
from cpay_engine.rpc.transport import GrpcTransport
from tests.tui.helpers import cells, column, drawn, press, settle
from tests.tui.seeding import BOB_AVAILABLE, MARKUP_MEMO_SHOWN, SeededWallet


@pytest.fixture
def remote_bob(seeded: SeededWallet, server: RunningServer) -> Iterator[SignedClient]:
    """bob's PaymentsAPI over a real gRPC connection to the seeded wallet's server."""
    transport = GrpcTransport(f"127.0.0.1:{server.port}")
    client = SignedClient(transport, seeded.wallet.keys["bob"], clock=seeded.clock)
    yield client
    client.close()


async def test_dashboard_history_and_detail_work_the_same_over_grpc(
    seeded: SeededWallet, remote_bob: SignedClient
) -> None:
    app = seeded.app("bob", api=remote_bob)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        balances = cells(app.screen.query_one("#balances", DataTable))
        assert balances == [["DBL", format_amount(BOB_AVAILABLE, "DBL"), "0.00"]]
        latest = app.screen.query_one("#latest", DataTable)
        assert column(latest, "Memo")[0] == MARKUP_MEMO_SHOWN

        await press(pilot, "h", "slash", *"rent", "enter")
        assert isinstance(app.screen, HistoryScreen)
        history = app.screen.query_one("#history-table", DataTable)
        assert column(history, "Memo") == ["rent share"]

        await press(pilot, "enter")
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        assert detail.tx_id == "seed-pay-rent"
        receipt = await drawn(pilot, detail.query_one("#detail-receipt", Static))
        assert receipt.startswith("✔ signature verified")


async def test_losing_the_server_mid_session_says_so_on_screen(
    seeded: SeededWallet, remote_bob: SignedClient, server: RunningServer, tmp_path: Path
) -> None:
    """History kept reloading from the cache with no word of being offline: the cache's
    warning went to stderr, behind the dashboard."""
    printed: list[str] = []
    api = CachingEngine(remote_bob, HistoryCache(tmp_path / "bob.db"), warn=printed.append)
    app = seeded.app("bob", api=api)
    async with app.run_test(size=(100, 30)) as pilot:
        await press(pilot, "h")
        server.server.stop(None).wait()
        await press(pilot, "g")
        await settle(pilot)
        toasts = [n.message for n in app._notifications]
        assert any("showing the offline cache" in text for text in toasts), toasts
        assert isinstance(app.screen, HistoryScreen)
        assert column(app.screen.query_one("#history-table", DataTable), "Memo")
    assert printed == []


async def test_the_dashboard_offline_shows_the_cached_activity_and_no_stale_balance(
    seeded: SeededWallet, remote_bob: SignedClient, server: RunningServer, tmp_path: Path
) -> None:
    """Offline, the dashboard showed only "Could not load": its summary read the balances
    first and gave up, though the latest activity was in the cache."""
    api = CachingEngine(remote_bob, HistoryCache(tmp_path / "bob.db"), warn=lambda _m: None)
    app = seeded.app("bob", api=api)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        online = column(app.screen.query_one("#latest", DataTable), "Memo")
        assert online
        server.server.stop(None).wait()
        await press(pilot, "g")
        await settle(pilot)
        assert column(app.screen.query_one("#latest", DataTable), "Memo") == online
        assert cells(app.screen.query_one("#balances", DataTable)) == [["—", "offline", "—"]]
