"""Shared option types and helpers for commands: output format, confirmation, session."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Sequence

import typer

from cpay_cli.output import Format, say
from cpay_cli.session import Session
from cpay_engine.errors import Cancelled

OutputOption = typer.Option(
    Format.TABLE, "-o", "--output", help="table, json, ndjson or csv.", case_sensitive=False
)
YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")


def session(ctx: typer.Context) -> Session:
    root = ctx.find_root()
    obj = root.obj
    if not isinstance(obj, Session):
        obj = Session()
        root.obj = obj
    return obj


def confirm(preview: Sequence[str], *, yes: bool, action: str) -> None:
    """Show the preview on stderr and ask; --yes skips; no TTY and no --yes is exit 3."""
    for line in preview:
        say(line)
    if yes:
        return
    if not sys.stdin.isatty():
        raise Cancelled(f"{action} needs confirmation: re-run with --yes (no terminal to ask)")
    if not typer.confirm("Proceed?", default=False, err=True):
        raise Cancelled("cancelled: nothing was sent")


def new_payment_id() -> str:
    return str(uuid.uuid4())


def mode_label(s: Session) -> str:
    profile = s.profile
    return f"profile '{profile.name}', {profile.mode} mode"
