"""The `cpay` command: Typer app, global options, and the one place errors become exit codes.

Heavy modules (the engine, protobuf, cryptography) are imported inside
the commands that need them, so `cpay --help` stays fast. The console script goes
further (`run`): it registers only the command group its arguments name, so `cpay
balance` neither imports nor builds `cpay server …` and the other groups.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
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
            if _debugging(ctx):
                import traceback

                traceback.print_exc()
            # Messages can carry text from elsewhere (a server's answer, a file name, a
            # user's input): control characters show as \x.. and never reach the terminal.
            print(f"cpay: {_printable(error.message)}", file=sys.stderr)
            raise typer.Exit(exits.exit_code(error)) from None
        except KeyboardInterrupt as interrupt:
            # A command may say what an interruption left undecided (cpay_cli.commands.
            # common.sending): a payment sent, whose outcome is unknown.
            said = interrupt.args[0] if interrupt.args else "interrupted"
            print(f"cpay: {_printable(str(said))}", file=sys.stderr)
            raise typer.Exit(exits.INTERRUPTED) from None
        except BrokenPipeError:
            # The reader went away (`cpay history | head`): stop quietly, as `cat` would.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(exits.BROKEN_PIPE) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            if type(error).__module__.startswith("typer") or _debugging(ctx):
                raise
            if isinstance(error, OSError) and error.filename:
                # A file CPay needs (under CPAY_HOME, or named on the command line) that the
                # system refuses: say which and why.
                message = (
                    f"cannot use {error.filename}: {error.strerror or error}; check the path "
                    "and its permissions (CPAY_HOME sets where CPay keeps its files)"
                )
            else:
                message = (
                    f"internal error ({type(error).__name__}); nothing more was done. "
                    "Re-run with --debug for details and report it."
                )
            print(f"cpay: {_printable(message)}", file=sys.stderr)
            raise typer.Exit(exits.FAILURE) from None
        finally:
            if isinstance(ctx.obj, Session):
                ctx.obj.close()


def _printable(text: str) -> str:
    from cpay_cli.output import printable  # on the error path only, not at every start

    return printable(text)


def _debugging(ctx: Any) -> bool:
    """--debug was given: let the traceback through."""
    return isinstance(ctx.obj, Session) and ctx.obj.debug


_app = typer.Typer(
    name="cpay",
    cls=CPayGroup,
    help="CPay: payments from the terminal. Dabloons (DBL) on a double-entry ledger.",
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@_app.callback()
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


# The top-level commands live in these modules (each has `register(app)`), the groups
# in these sub-apps (`cpay user …` is cpay_cli/commands/users.py's `app`).
_COMMAND_MODULES = ("wallet", "ui", "demo")
_GROUPS = {
    "user": "users",
    "key": "keys",
    "admin": "admin",
    "profile": "profiles",
    "server": "server",
}
# Global options that take a value, so the command name is found after it.
_VALUED_OPTIONS = ("--profile", "--as")
_registered: set[str] = set()
_ALL = "*"


def _register(group: str = _ALL) -> None:
    """Add the top-level commands and the sub-app of `group` ("" none, "*" all)."""
    import importlib

    for name in _COMMAND_MODULES:
        if name not in _registered:
            importlib.import_module(f"cpay_cli.commands.{name}").register(_app)
            _registered.add(name)
    for name, module in _GROUPS.items():
        if group in (_ALL, name) and name not in _registered:
            sub = importlib.import_module(f"cpay_cli.commands.{module}").app
            _app.add_typer(sub, name=name)
            _registered.add(name)


def _command_named(argv: Sequence[str]) -> str | None:
    """The command `argv` runs (`cpay --profile x admin mint …` → "admin"); None for help."""
    args = iter(argv)
    for arg in args:
        if arg in _VALUED_OPTIONS:
            next(args, None)
        elif arg in ("-h", "--help"):
            return None
        elif not arg.startswith("-"):
            return arg
    return None


def _top_level_names() -> set[str]:
    return {
        info.name or getattr(info.callback, "__name__", "").replace("_", "-")
        for info in _app.registered_commands
    }


def __getattr__(name: str) -> typer.Typer:
    # `from cpay_cli.main import app` (tests): the whole command tree.
    if name == "app":
        _register()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def run() -> None:
    command = _command_named(sys.argv[1:])
    if command in _GROUPS:
        _register(command)
    else:
        _register("")
        if command not in _top_level_names():  # help, or a typo to suggest names for
            _register()
    _app()
