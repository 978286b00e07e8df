"""Layout snapshots at 100x30 of the dashboard, history and pay screens.

Deterministic by construction: the seeded wallet runs on a fixed clock with fixed payment
ids, the app gets a fixed UiContext, every load has finished before the picture is taken,
and no Input keeps the focus (its cursor blinks). Regenerate with --snapshot-update.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Button

from tests.tui.helpers import paste, press, settle
from tests.tui.seeding import SeededWallet

SIZE = (100, 30)


class SnapCompare(Protocol):
    def __call__(
        self,
        app: App[None],
        *,
        terminal_size: tuple[int, int],
        run_before: Callable[[Pilot[None]], Awaitable[None]],
    ) -> bool: ...


def after(*keys: str) -> Callable[[Pilot[None]], Awaitable[None]]:
    """Press keys, one at a time, and wait for every load each starts before the next
    key (a key that reaches a table still loading moves nothing) and the snapshot."""

    async def run(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for key in keys:
            await press(pilot, key)

    return run


def test_dashboard_layout(seeded: SeededWallet, snap_compare: SnapCompare) -> None:
    assert snap_compare(seeded.app("bob"), terminal_size=SIZE, run_before=after())


def test_history_layout(seeded: SeededWallet, snap_compare: SnapCompare) -> None:
    assert snap_compare(seeded.app("bob"), terminal_size=SIZE, run_before=after("h", "down"))


async def _fill_pay_form(pilot: Pilot[None]) -> None:
    await settle(pilot)
    await press(pilot, "p")
    for field, text in (("#recipient", "@carol"), ("#amount", "12.50"), ("#memo", "lunch")):
        await paste(pilot, field, text)
    pilot.app.screen.query_one("#submit", Button).focus()  # no Input cursor to blink
    await settle(pilot)


def test_pay_layout_with_a_filled_in_form(seeded: SeededWallet, snap_compare: SnapCompare) -> None:
    assert snap_compare(seeded.app("bob"), terminal_size=SIZE, run_before=_fill_pay_form)
