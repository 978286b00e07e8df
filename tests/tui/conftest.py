"""Fixtures for the dashboard tests, and a runner for `async def` tests.

The project has no asyncio pytest plugin; Textual's Pilot needs an event loop, so a test
written as a coroutine is run here with asyncio.run (one fresh loop per test).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from cpay_engine.rpc.server import RunningServer, start_server
from tests.tui.seeding import SeededWallet, seed_story


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    test = pyfuncitem.obj
    if not inspect.iscoroutinefunction(test):
        return None
    names = inspect.signature(test).parameters
    asyncio.run(test(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[SeededWallet]:
    """alice (admin), bob and carol after the seeded story, on a fixed clock."""
    wallet = SeededWallet.create(tmp_path / "wallet.db")
    seed_story(wallet)
    yield wallet
    wallet.wallet.close()


@pytest.fixture
def server(seeded: SeededWallet) -> Iterator[RunningServer]:
    """The seeded wallet's engine served over gRPC on a free port."""
    running = start_server(seeded.wallet.engine, "127.0.0.1:0")
    yield running
    running.stop()
