"""`cpay admin …`: operations that need the admin role (every one is audited)."""

from __future__ import annotations

import typer

from cpay_cli.commands.common import (
    OutputOption,
    YesOption,
    confirm,
    mode_label,
    parse_order,
    sending,
    session,
)
from cpay_cli.output import PAYMENT_COLUMNS, Format, emit_one, payment_row, say

app = typer.Typer(help="Admin operations.", no_args_is_help=True)


# ignore_unknown_options: "-5" reaches the amount parser (and its message), not Click.
@app.command("mint", context_settings={"ignore_unknown_options": True})
def mint(
    ctx: typer.Context,
    recipient: str = typer.Argument(..., help="@handle to credit."),
    amount: str = typer.Argument(..., help="Decimal amount, e.g. 100.00."),
    currency: str = typer.Argument(..., help="Must be DBL."),
    memo: str = typer.Option("", "-m", "--memo"),
    payment_id: str | None = typer.Option(None, "--id", help="Idempotency id (default: new UUID)."),
    yes: bool = YesOption,
    output: Format = OutputOption,
) -> None:
    """Mint Dabloons from the treasury to a user."""
    order = parse_order(recipient, amount, currency, memo, payment_id)
    s = session(ctx)
    api = s.api()  # unlock the key first: the confirmation is the last step before sending
    if not yes:  # before asking, not after: a question a user cannot say yes to is noise
        from cpay_engine.domain.model import Role, role_refusal
        from cpay_engine.errors import PermissionDenied

        me = api.account()
        if me.role is not Role.ADMIN:
            refusal = role_refusal("minting Dabloons", [Role.ADMIN], me.handle, me.role)
            raise PermissionDenied(refusal)
    confirm(
        [
            f"Mint {order.amount} from the treasury to @{order.recipient} "
            f"as @{s.acting_handle()} ({mode_label(s)})",
            f"  payment id {order.payment_id}",
        ],
        yes=yes,
        action="minting",
    )
    with sending(order.payment_id):
        result = api.mint(
            payment_id=order.payment_id,
            recipient=order.recipient,
            amount_minor=order.amount_minor,
            currency=order.currency,
            memo=order.memo,
        )
    if result.replayed:
        say(f"mint {order.payment_id} was already made; showing the original result")
    emit_one(payment_row(result.transaction, result.replayed), output, PAYMENT_COLUMNS)


@app.command("invite")
def invite(
    ctx: typer.Context,
    role: str = typer.Option("user", "--role", help="user, admin or auditor."),
    ttl: str = typer.Option("24h", "--ttl", help="How long the code stays valid (30m, 24h, 7d)."),
    output: Format = OutputOption,
) -> None:
    """Create a one-time invite code for a new user to enroll a device with."""
    from cpay_cli.output import iso_time
    from cpay_engine.domain.model import parse_role
    from cpay_engine.domain.query import parse_duration_s

    seconds = parse_duration_s(ttl)
    s = session(ctx)
    created = s.api().create_invite(role=parse_role(role), ttl_seconds=seconds)
    say(
        f"Invite for a new {created.role.value}, valid until {iso_time(created.expires_at_ms)}. "
        f"Give it to them privately; they run: CPAY_INVITE=<code> cpay init --remote "
        f"{s.profile.server or 'HOST:PORT'} --handle NAME"
    )
    row = {
        "code": created.code,
        "role": created.role.value,
        "expires_at": iso_time(created.expires_at_ms),
    }
    emit_one(row, output, [("code", "Code"), ("role", "Role"), ("expires_at", "Expires")])
