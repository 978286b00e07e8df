"""Reading what the dashboard shows, and waiting for it to finish loading.

Screens load in thread workers; `settle` waits for them (and for whatever their
answers start) instead of sleeping for a guessed time.
"""

from __future__ import annotations

from textual import events
from textual._xterm_parser import XTermParser  # the driver's own key parser
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Input

SETTLE_ROUNDS = 50


async def settle(pilot: Pilot[None]) -> None:
    """Wait until no worker is running and what their answers started has been handled."""
    app = pilot.app
    for _ in range(SETTLE_ROUNDS):
        await pilot.pause()
        busy = [worker for worker in app.workers if not worker.is_finished]
        if not busy:
            return
        await app.workers.wait_for_complete(busy)
    raise AssertionError(f"workers still running after {SETTLE_ROUNDS} rounds: {app.workers}")


async def press(pilot: Pilot[None], *keys: str) -> None:
    """Press keys, then let every load they started finish."""
    await pilot.press(*keys)
    await settle(pilot)


async def burst(pilot: Pilot[None], text: str) -> None:
    """Send `text` as a terminal would in one read, through the parser the app's driver
    uses ("\t" is Tab, "\x1b[Z" Shift+Tab): every key reaches the app before the first is
    handled, as with auto-type, a paste without bracketed paste, or a fast typist over a
    slow link. Pilot.press waits after each key, so it cannot show what happens to keys
    queued behind a Tab."""
    for key in XTermParser().feed(text):
        pilot.app.post_message(key)
    await settle(pilot)


async def paste(pilot: Pilot[None], selector: str, text: str) -> None:
    """Empty an input and paste `text` into it, as a terminal's bracketed paste does.

    One event per field instead of one per key: typing key by key is slow in Pilot, and
    the form reacts to a paste exactly as to typing (Input.Changed, then validation)."""
    box = pilot.app.screen.query_one(selector, Input)
    box.focus()
    box.clear()
    box.post_message(events.Paste(text))
    await settle(pilot)
    assert box.value == text, f"{selector} holds {box.value!r} after pasting {text!r}"


def shown(widget: Widget) -> str:
    """The text the widget draws on screen, line by line (what a user would read)."""
    return "\n".join(widget.render_line(y).text.rstrip() for y in range(widget.size.height))


async def drawn(pilot: Pilot[None], widget: Widget) -> str:
    """What `widget` shows once it shows anything: text a worker's answer puts in an empty
    widget reaches the screen on a layout refresh after the one `settle` waits for, and a
    loaded machine can take a few more (seen once in CI: an empty receipt line)."""
    text = shown(widget)
    for _ in range(SETTLE_ROUNDS):
        if text.strip():
            break
        await pilot.pause(0.02)
        text = shown(widget)
    return text


def cells(table: DataTable[object]) -> list[list[str]]:
    """Every row of a table as plain strings."""
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def column(table: DataTable[object], name: str) -> list[str]:
    """One column of a table, by its label."""
    labels = [str(c.label) for c in table.ordered_columns]
    index = labels.index(name)
    return [row[index] for row in cells(table)]
