"""KeyBar: the screen's keys on the bottom line, as Textual's Footer shows them, in one widget.

Footer mounts a widget per key and rebuilds them all whenever focus or the bindings move;
styling those widgets was a fifth of the time from launch to the first history page.
KeyBar draws the same keys (those with `show=True`, one per action, the command palette's
on the right) as one line of text, redrawn when the screen's bindings change. A click on
a key presses it. It only displays: it owns no bindings and does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget

DISABLED = Style(dim=True)
PALETTE_EDGE = Style(dim=True)


@dataclass(frozen=True)
class Key:
    key: str  # what a click presses
    label: str  # how the key is shown ("^p", "/")
    description: str
    enabled: bool
    optional: bool = False  # may be left out when the line is too narrow (screen switches)

    def width(self) -> int:
        return cell_len(f" {self.label} {self.description} ")


class KeyBar(Widget):
    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"keybar--key", "keybar--description"}  # noqa: RUF012
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyBar > .keybar--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyBar > .keybar--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[Key] = []
        self.palette: Key | None = None
        self._spans: list[tuple[int, int, Key]] = []  # x range of each key, for clicks

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if screen is not self.screen:
            return
        app = self.app
        active = screen.active_bindings
        keys: list[Key] = []
        actions: set[str] = set()
        for _node, binding, enabled, _tooltip in active.values():
            if not binding.show or binding.action in actions:
                continue
            actions.add(binding.action)
            keys.append(
                Key(
                    binding.key,
                    app.get_key_display(binding),
                    binding.description,
                    enabled,
                    optional=binding.action.startswith("switch_mode"),
                )
            )
        palette = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, _tooltip = active[app.COMMAND_PALETTE_BINDING]
            palette = Key(binding.key, app.get_key_display(binding), binding.description, enabled)
        if (keys, palette) != (self.keys, self.palette):
            self.keys, self.palette = keys, palette
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        description_style = self.get_component_rich_style("keybar--description")
        width = self.size.width
        text = Text(no_wrap=True, overflow="crop", end="")
        spans: list[tuple[int, int, Key]] = []

        def add(key: Key, label: str) -> None:
            start = text.cell_len
            dim = Style() if key.enabled else DISABLED
            text.append(label, key_style + dim)
            text.append(f" {key.description} ", description_style + dim)
            spans.append((start, text.cell_len, key))

        palette, tail = self.palette, 0
        if palette is not None:
            tail = 1 + len(palette.label) + len(palette.description) + 2
            if tail >= width:
                palette, tail = None, 0
        for key in self._fitting(width - tail):
            add(key, f" {key.label}")
        # The palette on the right, as Footer docks it; keys crop under it.
        if palette is not None:
            text.truncate(width - tail)
            text.pad_right(width - tail - text.cell_len)
            spans = [(start, min(end, width - tail), key) for start, end, key in spans]
            text.append("▏", PALETTE_EDGE)
            add(palette, palette.label)
        self._spans = spans
        text.stylize_before(self.rich_style)  # the bar's colours under the keys' own
        return text

    def _fitting(self, room: int) -> list[Key]:
        """The keys to draw in `room` cells: all of them if they fit, else without the
        optional ones, dropped from the last; whatever still does not fit is cropped."""
        keys = list(self.keys)
        used = sum(key.width() for key in keys)
        for key in reversed(self.keys):
            if used <= room:
                break
            if key.optional:
                keys.remove(key)
                used -= key.width()
        return keys

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end and key.enabled:
                self.app.simulate_key(key.key)
                return
