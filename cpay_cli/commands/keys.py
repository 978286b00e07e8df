"""`cpay key list|rotate|revoke`: the device keys of the acting user."""

from __future__ import annotations

import typer

from cpay_cli.commands.common import OutputOption, YesOption, confirm, session
from cpay_cli.output import Format, emit, emit_one, iso_time, say

app = typer.Typer(help="Your device keys.", no_args_is_help=True)


@app.command("list")
def list_keys(ctx: typer.Context, output: Format = OutputOption) -> None:
    """Your registered keys; the one this device signs with is marked."""
    s = session(ctx)
    api = s.api()
    current = api.key_id
    rows = [
        {
            "key_id": k.key_id,
            "status": "revoked" if k.revoked else "active",
            "created_at": iso_time(k.created_at_ms),
            "revoked_at": iso_time(k.revoked_at_ms) if k.revoked else None,  # JSON null
            "this_device": k.key_id == current,
        }
        for k in api.list_keys()
    ]
    emit(
        rows,
        output,
        [
            ("key_id", "Key"),
            ("status", "Status"),
            ("created_at", "Created"),
            ("revoked_at", "Revoked"),
            ("this_device", "This device"),
        ],
    )


@app.command("rotate")
def rotate(ctx: typer.Context, output: Format = OutputOption) -> None:
    """Replace this device's key with a new one and revoke the old one."""
    from cpay_cli.profiles import Config
    from cpay_cli.registering import register_key
    from cpay_engine.adapters.crypto import SigningKey
    from cpay_engine.adapters.keystore import Backend
    from cpay_engine.errors import FailedPrecondition

    s = session(ctx)
    api = s.api()  # settles a key an earlier rotation left pending, first
    profile = s.profile
    handle = s.acting_handle()
    old = profile.users[handle]
    backend = Backend(old.keystore)
    new = SigningKey.generate()

    def still_current(c: Config) -> None:
        now = c.get(profile.name).users.get(handle)
        if now is None or now.key_id != old.key_id:
            raise FailedPrecondition(
                f"another command changed @{handle}'s key on this device meanwhile (it signs "
                f"with {now.key_id if now else 'no key'} now): nothing was done; run "
                "`cpay key list` to see where it stands"
            )

    result = register_key(
        s, profile.name, handle, new, backend, lambda: api.rotate_key(new), check=still_current
    )
    s.keystore.delete(s.key_name(profile.name, handle, old.key_id), backend)
    say(f"@{handle} now signs with {new.key_id}; {result.revoked_key_id} is revoked.")
    row = {"key_id": result.new_key.key_id, "revoked_key_id": result.revoked_key_id}
    emit_one(row, output, [("key_id", "New key"), ("revoked_key_id", "Revoked")])


@app.command("revoke")
def revoke(
    ctx: typer.Context,
    key_id: str = typer.Argument(..., help="The key to revoke (see `cpay key list`)."),
    yes: bool = YesOption,
    output: Format = OutputOption,
) -> None:
    """Revoke one of your keys (for example a lost device's). It cannot be undone."""
    from cpay_engine.errors import InvalidInput, NotFound

    s = session(ctx)
    api = s.api()
    handle = s.acting_handle()
    # Checked before asking: a typo gets "no such key", not a question about it.
    key_id = key_id.strip()
    if not key_id:
        raise InvalidInput("the key id is empty: name one from `cpay key list`")
    keys = api.list_keys()
    target = next((k for k in keys if k.key_id == key_id), None)
    if target is None:
        raise NotFound(f"@{handle} has no key {key_id}: see `cpay key list`")
    active = [k for k in keys if not k.revoked]
    if not target.revoked and [k.key_id for k in active] == [key_id]:
        # Said before asking: the engine refuses it anyway (a question whose yes fails).
        from cpay_engine.errors import FailedPrecondition

        raise FailedPrecondition(
            f"{key_id} is your only active key: revoking it would lock you out; "
            "use `cpay key rotate` instead"
        )
    question = [f"Revoke key {key_id} of @{handle}? This cannot be undone."]
    if key_id == api.key_id:
        question.append(f"This device signs with it: it will no longer act as @{handle}.")
    if not target.revoked:
        confirm(question, yes=yes, action="revoking a key")
    key = api.revoke_key(key_id)
    row = {"key_id": key.key_id, "status": "revoked", "revoked_at": iso_time(key.revoked_at_ms)}
    emit_one(row, output, [("key_id", "Key"), ("status", "Status"), ("revoked_at", "Revoked")])
