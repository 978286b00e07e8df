"""A new device key is never lost between the engine and this device's profile.

`cpay key rotate` and `cpay user add` register a new key with the engine, then record it
in the profile. A Ctrl-C (or a crash, or a lost answer) between the two used to delete
the new key although the engine had registered it — for a rotation, with the old key
revoked: locked out for good. Now the key is noted as pending before it is sent, and the
next command asks the engine which key is live (cpay_cli.registering).

The interruptions are injected where a real Ctrl-C would land: around the real call, so
the engine really commits (or really never hears of it). Concurrent commands are real
processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cpay_cli.profiles import Config, Profile
from cpay_engine.client import SignedClient
from cpay_engine.errors import FailedPrecondition
from tests.cli.conftest import Cli

CPAY = Path(sys.executable).parent / "cpay"


def interrupt(monkeypatch: pytest.MonkeyPatch, method: str, *, after: bool) -> None:
    """Ctrl-C right after `SignedClient.method` returns (the engine committed), or just
    before it would send (the engine never hears of it)."""
    real: Callable[..., Any] = getattr(SignedClient, method)

    def interrupted(self: SignedClient, *args: Any, **kwargs: Any) -> Any:
        if after:
            real(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(SignedClient, method, interrupted)


def key_files(home: Path) -> list[str]:
    return sorted(p.name for p in (home / "keys").glob("*.key"))


def config(home: Path) -> Profile:
    return Config.load(home / "config" / "config.json").get("default")


def test_a_rotation_interrupted_after_the_engine_committed_is_finished_by_the_next_command(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = initialized["key_id"]
    with monkeypatch.context() as patch:
        interrupt(patch, "rotate_key", after=True)
        result = cli("key", "rotate")
    assert result.exit_code == 130, result.stderr
    pending = config(cpay_home).pending["alice"].key_id
    assert config(cpay_home).users["alice"].key_id == old  # not yet switched

    balance = cli("balance")  # signs with the new key: the old one is revoked
    assert balance.exit_code == 0, balance.stderr
    assert f"key {pending} for @alice" in balance.stderr
    assert "was registered" in balance.stderr
    profile = config(cpay_home)
    assert profile.users["alice"].key_id == pending
    assert not profile.pending
    keys = {k["key_id"]: k for k in cli.json("key", "list")}
    assert keys[old]["status"] == "revoked"
    assert keys[pending]["this_device"]
    assert not any(old in name for name in key_files(cpay_home))  # the revoked key is gone
    assert cli("verify").exit_code == 0


def test_a_rotation_interrupted_before_sending_is_dropped_and_the_old_key_kept(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = initialized["key_id"]
    with monkeypatch.context() as patch:
        interrupt(patch, "rotate_key", after=False)
        assert cli("key", "rotate").exit_code == 130
    pending = config(cpay_home).pending["alice"].key_id
    assert len(key_files(cpay_home)) == 3  # engine key, old and pending device keys

    # Unknown to the engine, but its request might still be queued there: kept for now,
    # and the old key signs meanwhile.
    early = cli("whoami", "-o", "json")
    assert early.exit_code == 0, early.stderr
    assert json.loads(early.stdout)["key_id"] == old
    assert config(cpay_home).pending["alice"].key_id == pending

    def eleven_minutes_ago(c: Config) -> None:
        ref = c.get("default").pending["alice"]
        c.get("default").pending["alice"] = dataclasses.replace(
            ref, sent_at_ms=ref.sent_at_ms - 11 * 60 * 1000
        )

    Config.load(cpay_home / "config" / "config.json").change(eleven_minutes_ago)
    whoami = cli("whoami", "-o", "json")  # now no envelope of that request can be applied
    assert whoami.exit_code == 0, whoami.stderr
    assert "was never registered" in whoami.stderr
    assert json.loads(whoami.stdout)["key_id"] == old
    assert not config(cpay_home).pending
    assert not any(pending in name for name in key_files(cpay_home))
    assert [k["key_id"] for k in cli.json("key", "list")] == [old]


def test_a_refused_rotation_keeps_nothing(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: SignedClient, *args: Any, **kwargs: Any) -> Any:
        raise FailedPrecondition("refused for the test")

    before = key_files(cpay_home)
    monkeypatch.setattr(SignedClient, "rotate_key", refused)
    assert cli("key", "rotate").exit_code == 1
    assert key_files(cpay_home) == before
    assert not config(cpay_home).pending


def test_a_user_add_interrupted_after_the_engine_committed_leaves_a_usable_user(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        interrupt(patch, "create_user", after=True)
        assert cli("user", "add", "carol").exit_code == 130
    assert "carol" in config(cpay_home).pending
    # Adding @carol again (what the interruption suggests) finds it went through.
    again = cli("user", "add", "carol")
    assert again.exit_code == 0, again.stderr
    assert "was registered" in again.stderr
    assert "Added @carol (user)" in again.stderr
    assert cli.json("--as", "carol", "whoami")["handle"] == "@carol"


def test_a_config_that_cannot_be_saved_stops_a_rotation_before_anything_is_sent(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    before = key_files(cpay_home)
    with monkeypatch.context() as patch:
        patch.setattr(tempfile, "mkstemp", disk_full)  # the config's new copy
        result = cli("key", "rotate")
    assert result.exit_code == 1
    assert "could not save the config file" in result.stderr
    assert "No space left on device" in result.stderr
    assert key_files(cpay_home) == before
    assert [k["status"] for k in cli.json("key", "list")] == ["active"]  # nothing rotated
    assert not [p for p in (cpay_home / "config").iterdir() if p.suffix == ".tmp"]


def test_a_key_file_that_cannot_be_written_is_a_clear_error_and_nothing_is_sent(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    before = key_files(cpay_home)
    with monkeypatch.context() as patch:
        patch.setattr(os, "fsync", disk_full)
        result = cli("user", "add", "carol")
    assert result.exit_code == 1
    assert "could not write the key file" in result.stderr
    assert "No space left on device" in result.stderr
    assert key_files(cpay_home) == before
    assert [u["handle"] for u in cli.json("user", "list")] == ["@alice"]


def test_config_changes_from_many_threads_are_all_kept(tmp_path: Path) -> None:
    path = tmp_path / "config.json"

    def add(i: int) -> None:
        def edit(c: Config) -> None:
            c.profiles[f"p{i}"] = Profile(name=f"p{i}", mode="remote", server=f"h:{i}")

        Config.load(path).change(edit)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(Config.load(path).profiles) == sorted(f"p{i}" for i in range(16))


@pytest.mark.slow
def test_users_added_by_concurrent_processes_all_keep_their_keys(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path
) -> None:
    """Four `cpay user add` at once, then two rotations at once: every profile change
    is kept (each process used to write back the config it read at its start)."""
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}

    def run_all(commands: list[list[str]]) -> None:
        procs = [
            subprocess.Popen(
                [str(CPAY), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for args in commands
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err.decode()

    handles = ["carol", "dave", "erin", "frank"]
    run_all([["user", "add", h] for h in handles])
    assert set(config(cpay_home).users) == {"alice", *handles}
    run_all([["key", "rotate"], ["--as", "carol", "key", "rotate"]])
    for handle in ("alice", "carol", *handles[1:]):
        keys = cli.json("--as", handle, "key", "list")
        assert [k["this_device"] for k in keys if k["status"] == "active"] == [True]


@pytest.mark.slow
def test_concurrent_inits_make_one_wallet_and_the_others_remove_nothing(
    cli: Cli, cpay_home: Path
) -> None:
    """Three `cpay init` at once used to report two wallets created, one of them deleted
    by a loser's clean-up, so the profile could name a key of a wallet that is gone."""
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    procs = [
        subprocess.Popen(
            [str(CPAY), "init", "--handle", "alice", "-o", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(proc, *proc.communicate(timeout=120)) for proc in procs]
    created = [json.loads(out) for proc, out, _ in results if proc.returncode == 0]
    assert len(created) == 1, [err for _, _, err in results]
    for proc, _, err in results:
        if proc.returncode != 0:
            assert proc.returncode == 1
            assert "already" in err
    assert cli.json("whoami")["key_id"] == created[0]["key_id"]
    assert cli("verify").exit_code == 0
    wallet = Path(created[0]["db"])
    assert wallet.stat().st_mode & 0o777 == 0o600  # the ledger: its owner's only


def test_undecodable_bytes_in_the_passphrase_or_invite_are_clear_errors(
    cli: Cli, cpay_home: Path
) -> None:
    """Bytes that are not UTF-8 in the environment arrive as surrogates: they used to
    end in an internal error (UnicodeEncodeError)."""
    bad_passphrase = cli(
        "init", "--handle", "uu", env={"CPAY_KEY_PASSPHRASE": "\udcff\udcfeabcdefgh"}
    )
    assert bad_passphrase.exit_code == 4
    assert "CPAY_KEY_PASSPHRASE is not UTF-8 text" in bad_passphrase.stderr
    bad_invite = cli(
        "init", "--remote", "127.0.0.1:1", "--handle", "uu", env={"CPAY_INVITE": "inv-\udcff"}
    )
    assert bad_invite.exit_code == 2
    assert "invite code has characters no invite code has" in bad_invite.stderr
    assert not (cpay_home / "keys").exists() or not list((cpay_home / "keys").iterdir())


def test_init_options_meant_for_a_server_are_not_silently_dropped(
    cli: Cli, cpay_home: Path
) -> None:
    leftover = cli("init", "--handle", "zed", env={"CPAY_INVITE": "inv-left-over"})
    assert leftover.exit_code == 2
    assert "CPAY_INVITE is set but there is no --remote" in leftover.stderr
    ca_alone = cli("init", "--handle", "zed", "--ca", str(cpay_home / "missing.pem"))
    assert ca_alone.exit_code == 2
    assert "--ca is for enrolling" in ca_alone.stderr
    no_address = cli("init", "--handle", "zed", "--invite", "inv-x")
    assert no_address.exit_code == 2
    assert "add --remote HOST:PORT" in no_address.stderr
    assert not (cpay_home / "data").exists()  # no wallet was made along the way


def test_a_running_dashboard_session_follows_a_rotation_made_by_another_command(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    """`cpay ui` open while `cpay key rotate` runs in another terminal: its requests
    were all refused as revoked ("use another device key") until it was restarted."""
    from cpay_cli.session import Session

    s = Session()
    api = s.api()
    try:
        assert api.key_id == initialized["key_id"]
        rotated = cli("key", "rotate", "-o", "json")
        assert rotated.exit_code == 0, rotated.stderr
        new_key = json.loads(rotated.stdout)["key_id"]
        assert api.account().key_id == new_key  # signed anew with the key now on file
        assert api.key_id == new_key
    finally:
        s.close()


def test_revoking_the_only_active_key_is_refused_before_the_question(
    cli: Cli, initialized: dict[str, Any]
) -> None:
    """It used to ask (exit 3 without a terminal), then refuse after a yes."""
    result = cli("key", "revoke", initialized["key_id"])
    assert result.exit_code == 1
    assert "is your only active key" in result.stderr
    assert "cpay key rotate" in result.stderr
    assert [k["status"] for k in cli.json("key", "list")] == ["active"]


def test_csv_cells_holding_lists_or_objects_are_json_text(funded: Cli) -> None:
    """README: CSV's values are JSON's as text (a list was joined with ', ', an object
    was Python's repr)."""
    import csv
    import io

    [row] = list(csv.DictReader(io.StringIO(funded("profile", "show", "-o", "csv").stdout)))
    as_json = funded.json("profile", "show")
    assert json.loads(row["users"]) == as_json["users"]
    assert json.loads(row["keys"]) == as_json["keys"]
