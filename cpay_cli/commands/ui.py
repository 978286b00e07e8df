"""`cpay ui`: the full-screen dashboard (Textual) on the current profile."""

from __future__ import annotations

import typer

from cpay_cli.commands.common import session
from cpay_cli.session import Session


def register(app: typer.Typer) -> None:
    @app.command()
    def ui(ctx: typer.Context) -> None:
        """Open the dashboard: balances, history, pay, notifications, account."""
        open_dashboard(session(ctx))


def open_dashboard(s: Session) -> None:
    """Run the dashboard on `s`'s profile and acting user until the user quits."""
    # Reach the key and the engine before the screen is taken over, so a passphrase
    # prompt or an error ("no profile", "server unreachable") reads like any command's.
    api = s.api()
    account = api.account()
    from cpay_cli.launch import long_running
    from cpay_cli.tui.app import CPayApp  # textual: imported only here
    from cpay_cli.tui.context import UiContext

    profile = s.profile
    context = UiContext(
        profile=profile.name,
        mode=profile.mode,
        target=profile.target,
        trusted_engine_keys=s.trusted_engine_keys,
    )
    long_running()
    CPayApp(api, context, account).run()
