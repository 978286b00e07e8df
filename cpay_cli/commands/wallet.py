"""Everyday commands: init, whoami, balance, pay, history, show, verify."""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
from cpay_cli.output import (
    HISTORY_COLUMNS,
    PAYMENT_COLUMNS,
    Format,
    emit,
    emit_one,
    funds_note,
    history_row,
    payment_row,
    say,
)
from cpay_cli.profiles import Config, KeyRef, Profile
from cpay_engine.errors import AlreadyInitialized, FailedPrecondition, InvalidInput

if TYPE_CHECKING:
    from cpay_cli.commands.common import MoneyOrder
    from cpay_cli.session import Session
    from cpay_engine.api import EnrollmentView, PaymentsAPI
    from cpay_engine.bootstrap import DbUrl


def funds_line(api: PaymentsAPI, order: MoneyOrder) -> str:
    """The payer's available funds against `order` (output.funds_note), for the preview."""
    cur = order.currency
    have = sum(b.available_minor for b in api.balances(cur) if b.currency == cur)
    return "  " + funds_note(have, order.amount_minor, cur)[0]


def default_handle() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    name = re.sub(r"[^a-z0-9_]", "", name.lower())
    if not name or not name[0].isalpha() or len(name) < 2 or name == "root":
        return "me"
    return name[:32]


def create_local_wallet(
    s: Session,
    handle_text: str | None,
    *,
    make_current: bool = True,
    db_url: DbUrl | None = None,
) -> Profile:
    """Keys first (read back), then the database, then the profile; undo all on failure."""
    from cpay_engine.adapters.crypto import SigningKey
    from cpay_engine.adapters.keystore import choose_backend
    from cpay_engine.bootstrap import DbUrl, initialize_at
    from cpay_engine.domain.model import parse_handle

    name = s.chosen_profile_name()
    handle = parse_handle(handle_text or default_handle())
    if name in s.config.profiles:
        raise AlreadyInitialized(
            f"profile '{name}' already exists ({s.config.profiles[name].target}): "
            f"use --profile NAME for another wallet"
        )
    url = db_url or DbUrl("sqlite", s.home.wallet_db(name))
    backend = choose_backend(os.environ.get("CPAY_KEYSTORE"))
    device, engine = SigningKey.generate(), SigningKey.generate()
    saved: list[str] = []
    if url.path is not None:
        _claim_wallet_file(url.path)  # from here on the file is this command's to undo
    try:
        engine_name = s.key_name(name, "engine", engine.key_id)
        s.keystore.save(engine_name, engine, backend)
        saved.append(engine_name)
        device_name = s.key_name(name, handle, device.key_id)
        s.keystore.save(device_name, device, backend)
        saved.append(device_name)
        initialize_at(url, handle, device, engine)
        profile = Profile(
            name=name,
            mode="local",
            db=str(url.path) if url.path is not None else url.dsn,
            default_user=handle,
            users={handle: KeyRef(device.key_id, backend.value)},
            engine_key=KeyRef(engine.key_id, backend.value),
        )

        def add(c: Config) -> None:
            if name in c.profiles:  # another process created it meanwhile
                raise AlreadyInitialized(f"profile '{name}' was just created by another command")
            c.profiles[name] = profile
            if make_current and c.current not in c.profiles:
                c.current = name

        s.config.change(add)
    except BaseException:
        for key_name in saved:
            s.keystore.delete(key_name, backend)
        if url.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{url.path}{suffix}").unlink(missing_ok=True)
        raise
    return profile


def _claim_wallet_file(path: Path) -> None:
    """Create the wallet's (empty) SQLite file, exclusively and readable by its owner only
    (SQLite gives its -wal and -shm files the same mode): of two `cpay init` at once,
    one creates it and the other is refused, and neither removes the other's wallet."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise AlreadyInitialized(
            f"{path} already holds a wallet but no profile points to it: move it away first"
        ) from None


def enroll_remote(
    s: Session, server: str | None, invite: str, handle_text: str | None, ca: Path | None
) -> Profile:
    """Create the device key, register it with the server using the invite, save a profile."""
    from cpay_cli.registering import register_key
    from cpay_engine.adapters.crypto import SigningKey
    from cpay_engine.adapters.keystore import choose_backend
    from cpay_engine.client import RetryPolicy, SignedClient
    from cpay_engine.domain.model import parse_handle
    from cpay_engine.rpc.transport import GrpcTransport, parse_target

    name = s.chosen_profile_name()
    existing = s.config.profiles.get(name)
    if existing is not None and existing.pending:
        s.settle_pending()  # an earlier enrollment whose answer was lost
        existing = s.config.profiles.get(name)
    if existing is not None and any(key[0] == name for key in s.adopted):
        return existing  # the earlier run of this command went through after all
    if existing is not None and (existing.users or existing.mode != "remote"):
        raise AlreadyInitialized(
            f"profile '{name}' already exists: use --profile NAME for another one"
        )
    if existing is not None and existing.pending:
        raise FailedPrecondition(
            f"profile '{name}' is waiting for the server's answer to an earlier enrollment "
            "(a request may still land within minutes): run the command again later"
        )
    address = server or (existing.server if existing else "")
    if not address:
        raise InvalidInput("enrolling with a server needs its address: add --remote HOST:PORT")
    target = parse_target(address)
    ca_path = ca or (Path(existing.ca) if existing and existing.ca else None)
    handle = parse_handle(handle_text or default_handle())
    code = invite.strip()
    if not code:
        raise InvalidInput("the invite code is empty: ask an admin for `cpay admin invite`")
    if not (code.isascii() and code.isprintable()):
        raise InvalidInput(
            "the invite code has characters no invite code has: copy it again exactly as "
            "`cpay admin invite` printed it"
        )
    backend = choose_backend(os.environ.get("CPAY_KEYSTORE"))
    key = SigningKey.generate()
    staged = Profile(
        name=name, mode="remote", server=target, ca=str(ca_path.absolute()) if ca_path else ""
    )

    def enroll() -> EnrollmentView:
        client = SignedClient(
            GrpcTransport(target, ca_file=ca_path), key, retry=RetryPolicy(attempts=4)
        )
        try:
            return client.enroll(invite_code=code, handle=handle)
        finally:
            client.close()

    def pin(profile: Profile, enrolled: EnrollmentView) -> None:
        profile.engine_public_keys = {k.key_id: k.public_key.hex() for k in enrolled.engine_keys}

    def not_enrolled_meanwhile(c: Config) -> None:
        now = c.profiles.get(name)
        if now is not None and (now.users or now.pending or now.mode != "remote"):
            raise AlreadyInitialized(
                f"profile '{name}' was just set up by another command: use --profile NAME "
                "for another one"
            )

    register_key(
        s,
        name,
        handle,
        key,
        backend,
        enroll,
        new_profile=staged,
        also=pin,
        check=not_enrolled_meanwhile,
    )

    def make_current(c: Config) -> None:
        if c.current not in c.profiles:
            c.current = name

    s.config.change(make_current)
    return s.config.get(name)


def _invite_code(option: str | None) -> str:
    if option == "-":
        import sys

        return sys.stdin.readline().strip()
    return (option or os.environ.get("CPAY_INVITE", "")).strip()


def register(app: typer.Typer) -> None:
    @app.command()
    def init(
        ctx: typer.Context,
        handle: str | None = typer.Option(None, "--handle", help="Your handle (default: login)."),
        remote: str | None = typer.Option(
            None, "--remote", help="HOST:PORT of a CPay server to enroll with (remote mode)."
        ),
        invite: str | None = typer.Option(
            None,
            "--invite",
            help="Invite code from `cpay admin invite` ('-' reads it from stdin; "
            "CPAY_INVITE also works and keeps it out of the process list).",
        ),
        ca: Path | None = typer.Option(None, "--ca", help="CA certificate for a TLS server."),
        output: Format = OutputOption,
    ) -> None:
        """Create a local wallet (first user is an admin), or enroll with a server."""
        s = session(ctx)
        code = _invite_code(invite)
        existing = s.config.profiles.get(s.chosen_profile_name())
        enrolling = remote or (existing is not None and existing.mode == "remote")
        if code and not enrolling and invite is None:
            # A CPAY_INVITE left in the environment: the user asked for a local wallet.
            raise InvalidInput(
                "CPAY_INVITE is set but there is no --remote HOST:PORT: add --remote to enroll "
                "with a server, or unset CPAY_INVITE to create a local wallet"
            )
        if ca is not None and not (enrolling or code):
            raise InvalidInput("--ca is for enrolling with a TLS server: use it with --remote")
        if enrolling or code:
            if not code:
                raise InvalidInput(
                    "enrolling with a server needs an invite: --invite CODE, --invite - "
                    "(stdin) or CPAY_INVITE"
                )
            profile = enroll_remote(s, remote, code, handle, ca)
            ref = profile.users[profile.default_user]
            say(
                f"Enrolled @{profile.default_user} with {profile.server} (profile "
                f"'{profile.name}', remote mode); device key {ref.key_id} in the "
                f"{ref.keystore} key store."
            )
            row = {
                "profile": profile.name,
                "handle": profile.default_user,
                "mode": "remote",
                "server": profile.server,
                "key_id": ref.key_id,
                "keystore": ref.keystore,
            }
            emit_one(row, output, [(k, k.replace("_", " ").title()) for k in row])
            return
        profile = create_local_wallet(s, handle)
        ref = profile.users[profile.default_user]
        say(
            f"Created wallet '{profile.name}' at {profile.db} for @{profile.default_user} (admin); "
            f"device key {ref.key_id} in the {ref.keystore} key store."
        )
        row = {
            "profile": profile.name,
            "handle": profile.default_user,
            "role": "admin",
            "key_id": ref.key_id,
            "keystore": ref.keystore,
            "db": profile.db,
        }
        emit_one(row, output, [(k, k.replace("_", " ").title()) for k in row])

    @app.command()
    def whoami(ctx: typer.Context, output: Format = OutputOption) -> None:
        """Who this device signs as, with which key, on which profile."""
        s = session(ctx)
        account = s.api().account()
        row = {
            "handle": "@" + account.handle,
            "role": account.role.value,
            "user_id": account.user_id,
            "key_id": account.key_id,
            "profile": s.profile.name,
            "mode": s.profile.mode,
        }
        emit_one(row, output, [(k, k.replace("_", " ").title()) for k in row])

    @app.command()
    def balance(
        ctx: typer.Context,
        currency: str | None = typer.Argument(None, help="Only this currency."),
        output: Format = OutputOption,
    ) -> None:
        """Balances per currency."""
        from cpay_engine.domain.money import format_amount, parse_currency

        if currency is not None and not currency.strip():
            raise InvalidInput("the currency is empty: name one (DBL), or leave it out for all")
        wanted = parse_currency(currency) if currency else ""
        rows = [
            {
                "currency": b.currency,
                "available": format_amount(b.available_minor, b.currency),
                "pending": format_amount(b.pending_minor, b.currency),
            }
            for b in session(ctx).api().balances(wanted)
        ]
        emit(
            rows,
            output,
            [("currency", "Currency"), ("available", "Available"), ("pending", "Pending")],
        )

    # ignore_unknown_options: "-5" reaches the amount parser (and its message), not Click.
    @app.command(context_settings={"ignore_unknown_options": True})
    def pay(
        ctx: typer.Context,
        recipient: str = typer.Argument(..., help="@handle or handle."),
        amount: str = typer.Argument(..., help="Decimal amount, e.g. 12.50."),
        currency: str = typer.Argument(..., help="Currency code, e.g. DBL."),
        memo: str = typer.Option("", "-m", "--memo", help="A note the recipient sees."),
        payment_id: str | None = typer.Option(
            None, "--id", help="Idempotency id; re-use it to retry safely (default: a new UUID)."
        ),
        yes: bool = YesOption,
        output: Format = OutputOption,
    ) -> None:
        """Pay someone. Shows a preview and asks first."""
        order = parse_order(recipient, amount, currency, memo, payment_id)
        s = session(ctx)
        api = s.api()  # unlock the key first: the confirmation is the last step before sending
        preview = [
            f"Pay {order.amount} from @{s.acting_handle()} to @{order.recipient} ({mode_label(s)})",
            f"  payment id {order.payment_id}" + (f"; memo: {memo!r}" if memo else ""),
        ]
        if not yes and sys.stdin.isatty():  # about to ask: say what the payer has first
            preview.append(funds_line(api, order))
        confirm(preview, yes=yes, action="a payment")
        with sending(order.payment_id):
            result = api.pay(
                payment_id=order.payment_id,
                recipient=order.recipient,
                amount_minor=order.amount_minor,
                currency=order.currency,
                memo=order.memo,
            )
        if result.replayed:
            say(f"payment {order.payment_id} was already made; showing the original result")
        emit_one(payment_row(result.transaction, result.replayed), output, PAYMENT_COLUMNS)

    @app.command()
    def history(
        ctx: typer.Context,
        limit: int = typer.Option(
            50, "--limit", "-n", help="How many transactions (newest first)."
        ),
        since: str | None = typer.Option(None, "--since", help="Date, ISO time or age (7d, 24h)."),
        query: str = typer.Option(
            "", "--query", "-q", help="Filter, e.g. '@bob status:failed rent'."
        ),
        output: Format = OutputOption,
    ) -> None:
        """Your transactions, newest first.

        A query (-q) takes bare words (memo or counterparty), @handle (or with:HANDLE;
        @treasury for mints), in or out,
        currency:DBL, status:pending|completed|failed|unknown, amount:10, amount:>10,
        amount:>=10, amount:<10, amount:<=10, amount:10..50 (> and < strict), after:WHEN and
        before:WHEN (a date, an ISO time or an age: 30m, 24h, 7d, 2w). Bounds combine;
        two different values of one field (@bob @carol) are refused.
        """

        from cpay_engine.domain.query import bounded, parse_query, parse_when
        from cpay_engine.service.engine import wall_clock_ms

        if limit < 1:
            raise InvalidInput("--limit must be at least 1")
        now = wall_clock_ms()
        f = parse_query(query, now)
        if since is not None:
            if not since.strip():
                raise InvalidInput("--since is empty: give a date, an ISO time or an age (7d)")
            f = bounded(f, since_ms=parse_when(since, now))  # and any after: in the query
        api = session(ctx).api()
        rows: list[dict[str, Any]] = []
        cursor = ""
        while len(rows) < limit:
            page = api.history(limit=min(500, limit - len(rows)), before_cursor=cursor, filter=f)
            rows.extend(history_row(t) for t in page.transactions)
            cursor = page.next_cursor
            if not cursor:
                break
        emit(rows, output, HISTORY_COLUMNS)
        if not rows and output is Format.TABLE:
            filtered = query or since
            say("No transactions match." if filtered else "No transactions yet.")

    @app.command()
    def show(
        ctx: typer.Context,
        tx_id: str = typer.Argument(
            ..., help="Transaction (payment) id, or a unique start of one of yours (4+ characters)."
        ),
        output: Format = OutputOption,
    ) -> None:
        """One transaction: postings, receipt, and whether the receipt verifies."""
        from cpay_engine.client import receipt_verifies
        from cpay_engine.domain.money import format_amount

        s = session(ctx)
        tx = s.api().transaction(tx_id)
        verified = receipt_verifies(tx, s.trusted_engine_keys())
        row = payment_row(tx, False)
        row.pop("replayed")
        row["direction"] = tx.direction.value if tx.direction else None  # not a party
        if tx.failure_message:
            row["failure"] = tx.failure_message
        row["receipt"] = (
            "none" if tx.receipt is None else ("signature verified" if verified else "NOT verified")
        )
        if output in (Format.JSON, Format.NDJSON):
            import base64

            row["postings"] = [
                {
                    "account": p.account,
                    "amount": format_amount(p.amount_minor, p.currency),
                    "currency": p.currency,
                }
                for p in tx.postings
            ]
            row["receipt"] = None
            if tx.receipt is not None:
                row["receipt"] = {
                    "key_id": tx.receipt.key_id,
                    "payload": tx.receipt.payload.decode("utf-8"),
                    "signature": base64.b64encode(tx.receipt.signature).decode(),
                    "verified": verified,
                }
            emit_one(row, output, [(k, k) for k in row])
            return
        columns = [(k, k.replace("_", " ").title()) for k in row]
        emit_one(row, output, columns)
        if tx.postings and output is Format.TABLE:
            print()
            emit(
                [
                    {
                        "account": p.account,
                        "amount": format_amount(p.amount_minor, p.currency),
                        "currency": p.currency,
                    }
                    for p in tx.postings
                ],
                output,
                [("account", "Account"), ("amount", "Amount"), ("currency", "Currency")],
            )

    @app.command()
    def verify(ctx: typer.Context, output: Format = OutputOption) -> None:
        """Check the ledger: balances re-derive, receipts verify, the audit chain holds."""
        report = session(ctx).api().verify_ledger()
        row = {
            "ok": report.ok,
            "scope": report.scope,
            "transactions_checked": report.transactions_checked,
            "accounts_checked": report.accounts_checked,
            "receipts_checked": report.receipts_checked,
            "audit_entries_checked": report.audit_entries_checked,
            "problems": list(report.problems),
        }
        if output is Format.TABLE:
            emit_one(
                {**row, "problems": len(report.problems)},
                output,
                [(k, k.replace("_", " ").title()) for k in row],
            )
            for problem in report.problems:
                say(f"problem: {problem}")
        else:
            emit_one(row, output, [(k, k) for k in row])
        if not report.ok:
            raise FailedPrecondition(f"the ledger has {len(report.problems)} problem(s); see above")
