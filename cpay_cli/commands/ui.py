"""`cpay ui`: the full-screen dashboard (Textual) on the current profile."""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING

import typer

from cpay_cli.commands.common import session
from cpay_cli.session import Session
from cpay_cli.tui.modes import ADMIN_ONLY, DEFAULT_SCREEN, ScreenName  # no Textual in it
from cpay_engine.errors import InvalidInput, OutcomeUnknown, PermissionDenied

if TYPE_CHECKING:
    from cpay_cli.tui.app import CPayApp
    from cpay_cli.tui.context import UiContext

ScreenOption = typer.Option(
    DEFAULT_SCREEN,
    "--screen",
    case_sensitive=False,
    help="The screen to open on (as hledger-ui's --register): only it is built at launch; "
    "the others open with their keys as usual.",
)


def register(app: typer.Typer) -> None:
    @app.command()
    def ui(ctx: typer.Context, screen: ScreenName = ScreenOption) -> None:
        """Open the dashboard: balances, history, pay, notifications, account."""
        open_dashboard(session(ctx), start=screen)


def open_dashboard(s: Session, start: ScreenName = DEFAULT_SCREEN) -> None:
    """Run the dashboard on `s`'s profile and acting user, opened on the screen `start`,
    until the user quits."""
    # Textual and the first screen (~0.4 s) import while the key file's scrypt runs.
    if not (sys.stdin.isatty() and sys.stdout.isatty() and sys.stderr.isatty()):
        # Checked first (no key unlocked, no engine opened): Textual would draw into the
        # pipe or file and wait for keys that never come.
        raise InvalidInput(
            "cpay ui needs a terminal (its input, output or error output is redirected): run "
            "it in one; "
            "scripts read the same data with `cpay balance` and `cpay history -o json`"
        )
    # Reach the key and the engine before the screen is taken over, so a passphrase
    # prompt or an error ("no profile", "server unreachable") reads like any command's.
    api = s.api("cpay_cli.tui.app", f"cpay_cli.tui.screens.{ScreenName(start).value}")
    account = api.account()
    from cpay_engine.domain.model import Role

    if start in ADMIN_ONLY and account.role is not Role.ADMIN:
        raise PermissionDenied(f"the {start} screen is for admins; @{account.handle} is not one")
    from cpay_cli.launch import long_running
    from cpay_cli.tui.app import CPayApp  # textual: imported only here

    long_running()
    context = ui_context(s)
    if getattr(api, "offline", False):  # a remote profile whose server cannot be reached
        context = dataclasses.replace(
            context,
            notice=f"Offline: {context.target} cannot be reached. History is the cache from "
            "the last sync; balances and payments need the server. Press g to try again.",
        )
    app = CPayApp(api, context, account, start=start)
    try:
        app.run()
    except KeyboardInterrupt:  # Ctrl-C while the closed dashboard waits for an answer
        if app.in_flight or app.unresolved:
            raise KeyboardInterrupt(_undecided(app)) from None
        raise
    if app.in_flight or app.unresolved:  # closed with payments undecided: say which
        raise OutcomeUnknown(_undecided(app))


def _undecided(app: CPayApp) -> str:
    payments = {**app.unresolved, **app.in_flight}
    listed = "; ".join(f"{what} (id {pid})" for pid, what in payments.items())
    first = next(iter(payments))
    return (
        f"the dashboard closed before the answer to {listed}: it may or may not have been "
        f"made; run `cpay show {first}` to find out (retrying with --id {first} cannot pay "
        "twice)"
    )


def ui_context(s: Session) -> UiContext:
    """What the dashboard is told about `s`'s profile (the dashboard never sees a Session)."""
    from cpay_cli.tui.context import UiContext

    profile = s.profile
    return UiContext(profile.name, profile.mode, profile.target, s.trusted_engine_keys)
