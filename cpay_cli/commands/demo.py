"""`cpay demo`: seed a play-money wallet in its own profile and take a short tour."""

from __future__ import annotations

import typer

from cpay_cli.commands.common import session
from cpay_cli.output import HISTORY_COLUMNS, Format, emit, history_row, say
from cpay_cli.session import Session

DEMO_PROFILE = "demo"
DEMO_USERS = [("bob", "user"), ("carol", "user"), ("dave", "auditor")]
MINTS = [("alice", 1_000_00, "welcome"), ("bob", 250_00, "welcome"), ("carol", 120_00, "welcome")]
PAYMENTS = [
    ("alice", "bob", 12_50, "lunch 🍜"),
    ("bob", "carol", 5_00, "coffee"),
    ("carol", "alice", 2_25, "bus ticket"),
    ("alice", "carol", 100_00, "rent share, November"),
    ("bob", "alice", 40_00, "concert tickets"),
    ("carol", "bob", 7_75, "book club"),
]


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        ctx: typer.Context,
        tour: bool = typer.Option(True, "--tour/--no-tour", help="Print the tour afterwards."),
        ui: bool = typer.Option(False, "--ui", help="Open the dashboard on it (no tour)."),
    ) -> None:
        """Seed a demo wallet (profile 'demo': users, mints, payments) and show a tour."""
        from cpay_cli.commands.wallet import create_local_wallet
        from cpay_cli.registering import register_key
        from cpay_engine.adapters.crypto import SigningKey
        from cpay_engine.domain.model import Role
        from cpay_engine.domain.money import format_amount

        base = session(ctx)
        name = base.profile_name or DEMO_PROFILE
        s = Session(profile_name=name, home=base.home, passphrase=base.passphrase)
        if name not in s.config.profiles:
            say(f"Seeding the demo wallet (profile '{name}') with play money…")
            create_local_wallet(s, "alice", make_current=False)
            admin = s.api()
            profile = s.profile
            from cpay_engine.adapters.keystore import Backend

            backend = Backend(profile.users["alice"].keystore)
            for handle, role in DEMO_USERS:
                key = SigningKey.generate()

                def create(handle: str = handle, role: str = role, key: SigningKey = key) -> None:
                    admin.create_user(handle=handle, role=Role(role), public_key=key.public_key)

                register_key(s, name, handle, key, backend, create)
            for i, (to, amount, memo) in enumerate(MINTS):
                admin.mint(
                    payment_id=f"demo-mint-{i:04d}",
                    recipient=to,
                    amount_minor=amount,
                    currency="DBL",
                    memo=memo,
                )
            s.close()
            for i, (frm, to, amount, memo) in enumerate(PAYMENTS):
                payer = Session(
                    profile_name=name, as_handle=frm, home=base.home, passphrase=base.passphrase
                )
                payer.api().pay(
                    payment_id=f"demo-pay-{i:04d}",
                    recipient=to,
                    amount_minor=amount,
                    currency="DBL",
                    memo=memo,
                )
                payer.close()
        if ui:
            from cpay_cli.commands.ui import open_dashboard

            open_dashboard(
                Session(
                    profile_name=name, as_handle="alice", home=base.home, passphrase=base.passphrase
                )
            )
            return
        if not tour:
            say(f"Demo wallet ready: cpay --profile {name} ui")
            return
        say("")
        say(f"Tour of the demo wallet (profile '{name}'): balances, then @alice's history.")
        rows = []
        for handle in ["alice", *[h for h, _ in DEMO_USERS]]:
            viewer = Session(
                profile_name=name, as_handle=handle, home=base.home, passphrase=base.passphrase
            )
            for b in viewer.api().balances("DBL"):
                rows.append(
                    {
                        "user": "@" + handle,
                        "currency": b.currency,
                        "available": format_amount(b.available_minor, b.currency),
                    }
                )
            viewer.close()
        emit(
            rows,
            Format.TABLE,
            [("user", "User"), ("currency", "Currency"), ("available", "Available")],
        )
        print()
        alice = Session(
            profile_name=name, as_handle="alice", home=base.home, passphrase=base.passphrase
        )
        page = alice.api().history(limit=10)
        emit([history_row(t) for t in page.transactions], Format.TABLE, HISTORY_COLUMNS)
        report = alice.api().verify_ledger()
        alice.close()
        say("")
        say(
            f"Ledger check: {'OK' if report.ok else 'PROBLEMS'} — "
            f"{report.transactions_checked} transactions, {report.receipts_checked} receipts, "
            f"{report.audit_entries_checked} audit entries verified."
        )
        say(
            f"Try: cpay --profile {name} balance · cpay --profile {name} --as bob pay @carol 1 DBL"
            f" · cpay --profile {name} history -q '@bob' · cpay --profile {name} verify"
        )
