"""Shared option types and helpers for commands: output format, confirmation, session."""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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
    if not _ask_yes("Proceed? [y/N]: "):
        raise Cancelled("cancelled: nothing was sent")


def _ask_yes(question: str) -> bool:
    """y or yes (any case) proceeds; anything else, or end of input (Ctrl-D), does not.
    Not typer.confirm: click turns Ctrl-C there into "Aborted!" and exit 1, where DESIGN
    says 130; here KeyboardInterrupt reaches CPayGroup, which exits 130 (cpay_cli.prompt:
    however early the Ctrl-C comes)."""
    from cpay_cli.prompt import ask

    try:
        answer = ask(question)
    except KeyboardInterrupt:
        sys.stderr.write("\n")  # the message goes under the ^C, not after it
        raise
    if not answer:
        sys.stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


def new_payment_id() -> str:
    return str(uuid.uuid4())


def mode_label(s: Session) -> str:
    profile = s.profile
    return f"profile '{profile.name}', {profile.mode} mode"


@dataclass(frozen=True)
class MoneyOrder:
    recipient: str
    amount_minor: int
    currency: str
    memo: str
    payment_id: str

    @property
    def amount(self) -> str:
        from cpay_engine.domain.money import format_amount

        return f"{format_amount(self.amount_minor, self.currency)} {self.currency}"


def parse_order(
    recipient: str, amount: str, currency: str, memo: str, payment_id: str | None
) -> MoneyOrder:
    """Every argument of a money-moving command checked before anything is signed."""
    from cpay_engine.domain.model import check_memo, parse_handle, parse_payment_id
    from cpay_engine.domain.money import parse_amount, parse_currency
    from cpay_engine.errors import InvalidInput

    if payment_id is not None and not payment_id.strip():
        # `--id "$ID"` with $ID unset: a fresh id here would turn a script's retry into
        # a second payment, the one thing an id is there to prevent.
        raise InvalidInput(
            "--id is empty: give the payment's id (the same one to retry it), or leave "
            "--id out for a new one"
        )
    code = parse_currency(currency)
    return MoneyOrder(
        recipient=parse_handle(recipient),
        amount_minor=parse_amount(amount, code),
        currency=code,
        memo=check_memo(memo),
        payment_id=new_payment_id() if payment_id is None else parse_payment_id(payment_id),
    )


@contextlib.contextmanager
def sending(payment_id: str) -> Iterator[None]:
    """Around the call that sends a payment or a mint. A Ctrl-C from here on may land
    after the engine committed (or while a server is still working on it), so it names
    the payment to look up instead of saying only "interrupted" (still exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"interrupted after sending payment {payment_id}: it may or may not have been "
            f"made; run `cpay show {payment_id}` to find out, or retry with --id {payment_id} "
            "(it cannot be paid twice)"
        ) from None
