"""`cpay user add`: an admin adds a local user whose device key lives on this device."""

from __future__ import annotations

import os

import typer

from cpay_cli.commands.common import OutputOption, session
from cpay_cli.output import Format, emit_one, say
from cpay_cli.profiles import Config
from cpay_engine.errors import FailedPrecondition

app = typer.Typer(help="Users of this wallet (admin).", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    handle: str = typer.Argument(..., help="The new user's handle, e.g. @bob."),
    role: str = typer.Option("user", "--role", help="user, admin or auditor."),
    output: Format = OutputOption,
) -> None:
    """Add a user with a new device key on this device (use --as HANDLE to act as them)."""
    from cpay_cli.registering import register_key
    from cpay_engine.adapters.crypto import SigningKey
    from cpay_engine.adapters.keystore import choose_backend
    from cpay_engine.domain.model import parse_handle, parse_role

    s = session(ctx)
    new_handle = parse_handle(handle)
    new_role = parse_role(role)
    api = s.api()  # settles a key an earlier `user add` left pending, first
    profile = s.profile
    if new_handle in profile.users and (profile.name, new_handle) in s.adopted:
        # The earlier run of this command went through after all: report it.
        found = next(u for u in api.list_users() if u.handle == new_handle)
        _added(
            found.handle, found.role.value, found.user_id, profile.users[new_handle].key_id, output
        )
        return
    if new_handle in profile.users:
        raise FailedPrecondition(f"this device already holds a key for @{new_handle}")
    backend = choose_backend(os.environ.get("CPAY_KEYSTORE"))
    key = SigningKey.generate()

    def not_added_meanwhile(c: Config) -> None:
        if new_handle in c.get(profile.name).users:
            raise FailedPrecondition(f"this device already holds a key for @{new_handle}")

    user = register_key(
        s,
        profile.name,
        new_handle,
        key,
        backend,
        lambda: api.create_user(handle=new_handle, role=new_role, public_key=key.public_key),
        check=not_added_meanwhile,
    )
    _added(user.handle, user.role.value, user.user_id, user.key_id, output)


def _added(handle: str, role: str, user_id: str, key_id: str, output: Format) -> None:
    say(f"Added @{handle} ({role}); act as them with `cpay --as {handle} …`")
    row = {"handle": "@" + handle, "role": role, "user_id": user_id, "key_id": key_id}
    emit_one(row, output, [(k, k.replace("_", " ").title()) for k in row])


@app.command("list")
def list_users(ctx: typer.Context, output: Format = OutputOption) -> None:
    """Everyone on this wallet or server (admins and auditors)."""
    from cpay_cli.output import emit, iso_time

    rows = [
        {
            "handle": "@" + u.handle,
            "role": u.role.value,
            "user_id": u.user_id,
            "created_at": iso_time(u.created_at_ms),
        }
        for u in session(ctx).api().list_users()
    ]
    emit(
        rows,
        output,
        [("handle", "Handle"), ("role", "Role"), ("user_id", "User id"), ("created_at", "Created")],
    )
