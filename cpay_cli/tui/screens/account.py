"""Account: who you are, your device keys, and which profile and mode this is."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Static

from cpay_cli.tui.base import ROW_KEYS, CPayScreen
from cpay_cli.tui.format import literal_lines, when
from cpay_cli.tui.keybar import KeyBar
from cpay_engine.api import KeyView


class AccountScreen(CPayScreen):
    BINDINGS = [Binding("g", "refresh", "Refresh"), *ROW_KEYS]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Account", classes="title")
        yield Static("", id="account-summary", classes="panel")
        yield Static("Device keys", classes="title")
        table: DataTable[object] = DataTable(id="keys", cursor_type="row")
        yield table
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Key", "Status", "Created", "This device")
        self._summary()
        self.action_refresh()

    def _summary(self) -> None:
        """Who this is; "Signs as" is the key the client signs with now (another command
        may have rotated it since the dashboard started)."""
        account, ctx = self.cpay.account, self.cpay.context
        self.query_one("#account-summary", Static).update(
            literal_lines(
                [
                    f"Handle    @{account.handle}",
                    f"Role      {account.role.value}",
                    f"User id   {account.user_id}",
                    f"Profile   {ctx.profile} ({ctx.mode} mode)",
                    f"Target    {ctx.target}",
                    f"Signs as  {self.cpay.api.key_id}",
                ]
            )
        )

    _left = False

    def on_screen_suspend(self) -> None:
        self._left = True

    def on_screen_resume(self) -> None:
        """Keys change elsewhere too (`cpay key rotate` on this or another device): each
        return reloads them (after a failed load too); the first showing is on_mount's."""
        if self._left:
            self.action_refresh()

    def action_refresh(self) -> None:
        api = self.cpay.api
        self.mark_loading(self.query_one(DataTable))
        self.call_api(api.list_keys, self._show)

    def _show(self, keys: list[KeyView]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        current = self.cpay.api.key_id
        self._summary()
        for key in keys:
            table.add_row(
                key.key_id,
                "revoked" if key.revoked else "active",
                when(key.created_at_ms),
                "yes" if key.key_id == current else "",
            )
        self.done_loading(table)
