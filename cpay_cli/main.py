"""The `cpay` command: Typer app, global options, and the one place errors become exit codes.

Heavy modules (the engine, protobuf, cryptography, rich tables) are imported inside
the commands that need them, so `cpay --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

from cpay_cli import exits
from cpay_cli.session import Session
from cpay_engine.errors import CPayError


class CPayGroup(TyperGroup):
    """Turns CPayError into its message on stderr and its documented exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CPayError as error:
            session = ctx.obj if isinstance(ctx.obj, Session) else None
            if session is not None and session.debug:
                import traceback

                traceback.print_exc()
            print(f"cpay: {error.message}", file=sys.stderr)
            raise typer.Exit(exits.exit_code(error)) from None
        except KeyboardInterrupt:
            print("cpay: interrupted", file=sys.stderr)
            raise typer.Exit(exits.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (`cpay history | head`): stop quietly, as `cat` would.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(exits.BROKEN_PIPE) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            if type(error).__module__.startswith("typer"):
                raise
            session = ctx.obj if isinstance(ctx.obj, Session) else None
            if session is not None and session.debug:
                raise
            print(
                f"cpay: internal error ({type(error).__name__}); nothing more was done. "
                f"Re-run with --debug for details and report it.",
                file=sys.stderr,
            )
            raise typer.Exit(exits.FAILURE) from None
        finally:
            if isinstance(ctx.obj, Session):
                ctx.obj.close()


app = typer.Typer(
    name="cpay",
    cls=CPayGroup,
    help="CPay: payments from the terminal. Dabloons (DBL) on a double-entry ledger.",
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: str | None = typer.Option(
        None, "--profile", help="Profile to use (default: CPAY_PROFILE, then the current one)."
    ),
    as_handle: str | None = typer.Option(
        None, "--as", help="Act as another local user whose device key is on this device."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    ctx.obj = Session(profile_name=profile, as_handle=as_handle, debug=debug)


def _register() -> None:
    from cpay_cli.commands import admin, demo, keys, profiles, server, ui, users, wallet

    wallet.register(app)
    ui.register(app)
    demo.register(app)
    app.add_typer(users.app, name="user")
    app.add_typer(keys.app, name="key")
    app.add_typer(admin.app, name="admin")
    app.add_typer(profiles.app, name="profile")
    app.add_typer(server.app, name="server")


_register()


def run() -> None:
    app()
