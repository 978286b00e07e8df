"""`cpay profile list|add|use|show`: which wallet or server commands talk to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cpay_cli.commands.common import OutputOption, session
from cpay_cli.output import Format, emit, emit_one, say
from cpay_cli.profiles import Config, Profile, check_profile_name
from cpay_engine.errors import AlreadyInitialized

app = typer.Typer(help="Profiles: local wallets and remote servers.", no_args_is_help=True)


def _row(p: Profile, current: str) -> dict[str, Any]:
    return {
        "name": p.name,
        "current": p.name == current,
        "mode": p.mode,
        "target": p.target,
        "user": "@" + p.default_user if p.default_user else "",
        "users": ["@" + h for h in sorted(p.users)],  # a list in JSON; joined in tables
    }


COLUMNS = [
    ("name", "Profile"),
    ("current", "Current"),
    ("mode", "Mode"),
    ("target", "Target"),
    ("user", "User"),
    ("users", "Keys on this device"),
]


@app.command("list")
def list_profiles(ctx: typer.Context, output: Format = OutputOption) -> None:
    """All profiles; the current one is marked."""
    config = session(ctx).config
    emit([_row(p, config.current) for _, p in sorted(config.profiles.items())], output, COLUMNS)


@app.command("show")
def show(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, help="Profile (default: the one in use)."),
    output: Format = OutputOption,
) -> None:
    """One profile (no secrets: key ids and where each key is stored)."""
    s = session(ctx)
    profile = s.config.get(check_profile_name(name)) if name else s.profile
    row = _row(profile, s.config.current)
    row["keys"] = {
        h: {"key_id": r.key_id, "keystore": r.keystore} for h, r in profile.users.items()
    }
    if profile.mode == "remote":
        row["ca"] = profile.ca
        row["engine_keys"] = sorted(profile.engine_public_keys)
    if output is Format.TABLE:
        row["keys"] = ", ".join(
            f"@{h}: {r['key_id']} ({r['keystore']})" for h, r in row["keys"].items()
        )
        if "engine_keys" in row:
            row["engine_keys"] = ", ".join(row["engine_keys"])
    emit_one(row, output, [(k, k.replace("_", " ").title()) for k in row])


@app.command("use")
def use(
    ctx: typer.Context, name: str = typer.Argument(..., help="Profile to make current.")
) -> None:
    """Make a profile the current one."""
    config = session(ctx).config
    profile = config.get(check_profile_name(name))

    def use(c: Config) -> None:
        c.get(profile.name)  # not removed meanwhile
        c.current = profile.name

    config.change(use)
    say(f"Now using profile '{profile.name}' ({profile.mode} mode, {profile.target}).")


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="New profile name."),
    remote: str = typer.Option(..., "--remote", help="HOST:PORT of the CPay server."),
    ca: Path | None = typer.Option(None, "--ca", help="CA certificate for a TLS server."),
) -> None:
    """Add a remote profile; then enroll with `cpay --profile NAME init --invite …`."""
    from cpay_engine.rpc.transport import parse_target, read_ca_file

    config = session(ctx).config
    name = check_profile_name(name)
    if name in config.profiles:
        raise AlreadyInitialized(f"profile '{name}' already exists")
    if ca is not None:
        read_ca_file(ca)  # refused now, not at the first call
    new = Profile(
        name=name, mode="remote", server=parse_target(remote), ca=str(ca.absolute()) if ca else ""
    )

    def add(c: Config) -> None:
        if name in c.profiles:
            raise AlreadyInitialized(f"profile '{name}' already exists")
        c.profiles[name] = new

    config.change(add)
    say(f"Added profile '{name}' for {remote}; enroll with: cpay --profile {name} init --invite -")
