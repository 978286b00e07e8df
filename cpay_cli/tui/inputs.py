"""FormInput: a text field that keeps keys typed ahead of Tab in the right field.

Textual queues key events per widget. When "bob<Tab>2.50" arrives at once (a password
manager's auto-type, a paste from a terminal without bracketed paste, a fast typist over
a slow link), the app forwards all of it to the field that has focus, and the Tab only
moves focus once it has bubbled up to the app, after that field has taken "2.50" too:
the recipient reads "bob2.50" and the amount stays empty. A FormInput moves focus on
Tab and Shift+Tab in its own turn, and hands any key it still receives after losing
focus to the widget that has it, as the app would have done had the key come later.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FormInput(Input):
    async def _on_key(self, event: events.Key) -> None:
        screen = self.screen
        target = screen.focused
        if target is not None and target is not self:  # focus moved while this key queued
            event.stop()
            event.prevent_default()
            target.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            if event.key == "tab":
                screen.focus_next()
            else:
                screen.focus_previous()
            return
        await super()._on_key(event)
