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
    role: str | None = typer.Option(None, "--role", help="user (default), admin or auditor."),
    ttl: str = typer.Option("24h", "--ttl", help="How long the code stays valid (30m, 24h, 7d)."),
    for_handle: str | None = typer.Option(
        None,
        "--for",
        help="An existing user: the code enrolls another device for them (a new or "
        "replacement device; then revoke a lost one's key from it).",
    ),
    output: Format = OutputOption,
) -> None:
    """Create a one-time invite code: a new user enrolls a device with it, or, with
    --for, an existing user enrolls another device."""
    from cpay_cli.output import iso_time
    from cpay_engine.domain.model import Role, parse_handle, parse_role
    from cpay_engine.domain.query import parse_duration_s

    seconds = parse_duration_s(ttl)
    handle = parse_handle(for_handle) if for_handle is not None else ""
    wanted = parse_role(role) if role is not None else (None if handle else Role.USER)
    s = session(ctx)
    created = s.api().create_invite(role=wanted, ttl_seconds=seconds, for_handle=handle)
    server = s.profile.server or "HOST:PORT"
    until = iso_time(created.expires_at_ms)
    if created.for_handle:
        say(
            f"Invite for another device of @{created.for_handle}, valid until {until}. Give it "
            f"to them privately; on the new device they run: CPAY_INVITE=<code> cpay init "
            f"--remote {server} --handle {created.for_handle}"
        )
    else:
        say(
            f"Invite for a new {created.role.value}, valid until {until}. Give it to them "
            f"privately; they run: CPAY_INVITE=<code> cpay init --remote {server} --handle NAME"
        )
    row = {
        "code": created.code,
        "role": created.role.value,
        "expires_at": until,
        "for": "@" + created.for_handle if created.for_handle else None,
    }
    emit_one(
        row, output, [("code", "Code"), ("role", "Role"), ("expires_at", "Expires"), ("for", "For")]
    )
