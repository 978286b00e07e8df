"""Private keys at rest: the encrypted key file, the OS keyring, and secrets kept off screen.

DESIGN.md: keys live in the OS keyring, else in an encrypted key file (0600, passphrase
from env/file/prompt); never plaintext, never silently; secrets are never printed.
The keyring tests use a real in-memory keyring backend (a fake, not a mock), installed
with `keyring.set_keyring` and removed again afterwards.
"""

from __future__ import annotations

import base64
import json
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from threading import current_thread
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

from cpay_engine.adapters.crypto import SigningKey, verify_signature
from cpay_engine.adapters.keystore import (
    KEYRING_SERVICE,
    Backend,
    KeyStore,
    PassphraseSource,
    choose_backend,
)
from cpay_engine.errors import InvalidInput, Unauthenticated
from tests.cli.conftest import Cli

PASSPHRASE = "correct horse battery staple"  # what the `cpay_home` fixture sets
KEY_NAME = "default/alice/k-test"

Secrets = dict[tuple[str, str], str]


def fixed(passphrase: str) -> PassphraseSource:
    def source(confirm: bool) -> str:
        return passphrase

    return source


def never_asked(confirm: bool) -> str:
    raise AssertionError("the keyring backend must not ask for a key-file passphrase")


def encodings_of(secret: bytes) -> list[bytes]:
    """The ways a seed could leak: raw, base64 (standard, URL-safe, unpadded), hex."""
    b64 = base64.b64encode(secret)
    return [
        secret,
        b64,
        b64.rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        secret.hex().encode(),
        secret.hex().upper().encode(),
    ]


def key_files(home: Path) -> list[Path]:
    return sorted((home / "keys").glob("*.key"))


def seeds_in(home: Path) -> list[bytes]:
    """Decrypt every key file in `home` with the test passphrase (to look for leaks)."""
    store = KeyStore(home / "keys", fixed(PASSPHRASE))
    seeds = []
    for path in key_files(home):
        doc = json.loads(path.read_text())
        name = path.stem.replace("__", "/")
        seeds.append(store.load(name, doc["key_id"], Backend.FILE).seed())
    return seeds


def constructed(backend: Callable[[], KeyringBackend]) -> KeyringBackend:
    """An instance of a keyring backend class (keyring's constructors are unannotated)."""
    return backend()


@pytest.fixture
def memory_keyring() -> Iterator[Secrets]:
    """A working OS keyring that keeps secrets in a dict; yields that dict."""
    previous = keyring.get_keyring()
    secrets: Secrets = {}

    # Defined here, not at import: keyring registers every backend class it sees and
    # could auto-select this one for other tests if it existed at collection time.
    class MemoryKeyring(KeyringBackend):
        priority = 1

        def get_password(self, service: str, username: str) -> str | None:
            return secrets.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            secrets[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            if secrets.pop((service, username), None) is None:
                raise PasswordDeleteError(f"no secret for {username}")

    keyring.set_keyring(constructed(MemoryKeyring))
    try:
        yield secrets
    finally:
        keyring.set_keyring(previous)
        registry: set[type[KeyringBackend]] = KeyringBackend.__dict__["_classes"]
        registry.discard(MemoryKeyring)


@pytest.fixture
def failing_keyring() -> Iterator[None]:
    """The keyring library's 'no backend available' keyring, as on a headless machine."""
    previous = keyring.get_keyring()
    keyring.set_keyring(constructed(fail.Keyring))
    try:
        yield
    finally:
        keyring.set_keyring(previous)


# --- the encrypted key file ----------------------------------------------------------------


def test_a_key_file_is_private_and_never_holds_the_seed_in_clear(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys", fixed(PASSPHRASE))
    key = SigningKey.generate()

    store.save(KEY_NAME, key, Backend.FILE)

    path = store.path_for(KEY_NAME)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    raw = path.read_bytes()
    doc = json.loads(raw)
    assert doc["format"] == "cpay-key-v1"
    assert doc["key_id"] == key.key_id
    assert doc["kdf"]["name"] == "scrypt"
    assert doc["cipher"]["name"] == "aes-256-gcm"
    for leak in encodings_of(key.seed()):
        assert leak not in raw
    assert PASSPHRASE.encode() not in raw


def test_a_saved_key_reads_back_as_the_same_key(tmp_path: Path) -> None:
    key = SigningKey.generate()
    KeyStore(tmp_path, fixed(PASSPHRASE)).save(KEY_NAME, key, Backend.FILE)

    loaded = KeyStore(tmp_path, fixed(PASSPHRASE)).load(KEY_NAME, key.key_id, Backend.FILE)

    assert loaded.key_id == key.key_id
    assert loaded.public_key == key.public_key
    assert verify_signature(key.public_key, loaded.sign(b"message"), b"message")


def test_what_runs_while_a_key_file_unlocks_runs_on_the_calling_thread(tmp_path: Path) -> None:
    """Commands import their modules there while scrypt runs on another thread: imports on
    two threads at once can deadlock when a Ctrl-C lands inside importlib."""
    key = SigningKey.generate()
    KeyStore(tmp_path, fixed(PASSPHRASE)).save(KEY_NAME, key, Backend.FILE)
    threads: list[threading.Thread] = []

    loaded = KeyStore(tmp_path, fixed(PASSPHRASE)).load(
        KEY_NAME, key.key_id, Backend.FILE, meanwhile=lambda: threads.append(current_thread())
    )

    assert loaded.public_key == key.public_key
    assert threads == [current_thread()]


def test_a_ctrl_c_while_a_key_file_unlocks_stops_the_load(tmp_path: Path) -> None:
    key = SigningKey.generate()
    KeyStore(tmp_path, fixed(PASSPHRASE)).save(KEY_NAME, key, Backend.FILE)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        KeyStore(tmp_path, fixed(PASSPHRASE)).load(
            KEY_NAME, key.key_id, Backend.FILE, meanwhile=interrupted
        )
    assert [t.name for t in threading.enumerate() if t.name == "cpay-scrypt"] == []


def test_a_wrong_passphrase_cannot_open_a_key_file(tmp_path: Path) -> None:
    key = SigningKey.generate()
    KeyStore(tmp_path, fixed(PASSPHRASE)).save(KEY_NAME, key, Backend.FILE)

    with pytest.raises(Unauthenticated, match="wrong passphrase"):
        KeyStore(tmp_path, fixed("not it")).load(KEY_NAME, key.key_id, Backend.FILE)


def _edit(doc: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        pytest.param(lambda raw: raw[: len(raw) // 2], "cannot be read", id="truncated"),
        pytest.param(lambda raw: "[]", "not a CPay key file (no cpay-key-v1", id="a-list"),
        pytest.param(
            lambda raw: json.dumps(_edit(json.loads(raw), lambda d: d.pop("cipher"))),
            "the field 'cipher' is missing",
            id="field-missing",
        ),
        pytest.param(
            lambda raw: json.dumps(_edit(json.loads(raw), lambda d: d["kdf"].update(n=2**30))),
            "scrypt parameters n=1073741824",
            id="scrypt-cost-out-of-bounds",
        ),
        pytest.param(
            lambda raw: json.dumps(_edit(json.loads(raw), lambda d: d["kdf"].update(n="16384"))),
            "not integers",
            id="scrypt-cost-not-a-number",
        ),
        pytest.param(
            lambda raw: json.dumps(_edit(json.loads(raw), lambda d: d["cipher"].update(nonce=""))),
            "the nonce is 0 bytes, not 12",
            id="empty-nonce",
        ),
    ],
)
def test_a_damaged_key_file_is_refused_saying_what_is_wrong_and_what_to_do(
    tmp_path: Path, damage: Callable[[str], str], says: str
) -> None:
    key = SigningKey.generate()
    KeyStore(tmp_path, fixed(PASSPHRASE)).save(KEY_NAME, key, Backend.FILE)
    path = KeyStore(tmp_path, fixed(PASSPHRASE)).path_for(KEY_NAME)
    path.write_text(damage(path.read_text()))

    with pytest.raises(Unauthenticated) as refused:
        KeyStore(tmp_path, fixed(PASSPHRASE)).load(KEY_NAME, key.key_id, Backend.FILE)

    assert says in refused.value.message
    assert "restore it from a backup" in refused.value.message


def test_init_writes_private_key_files_without_any_seed_in_clear(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path
) -> None:
    files = key_files(cpay_home)
    seeds = seeds_in(cpay_home)

    assert len(files) == len(seeds) == 2  # @alice's device key and the engine's receipt key
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        raw = path.read_bytes()
        for seed in seeds:
            assert all(leak not in raw for leak in encodings_of(seed))


def test_rotating_a_key_replaces_its_key_file(
    cli: Cli, initialized: dict[str, Any], cpay_home: Path
) -> None:
    old = initialized["key_id"]

    rotated = cli.json("key", "rotate")

    names = [path.name for path in key_files(cpay_home)]
    assert not any(old in name for name in names)
    [new_file] = [p for p in key_files(cpay_home) if rotated["key_id"] in p.name]
    assert stat.S_IMODE(new_file.stat().st_mode) == 0o600


def test_the_cli_with_a_wrong_passphrase_exits_4_and_says_to_check_it(
    cli: Cli, initialized: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CPAY_KEY_PASSPHRASE", "a wrong guess")

    result = cli("balance")

    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: wrong passphrase for the key file")
    assert "CPAY_KEY_PASSPHRASE" in result.stderr
    assert "a wrong guess" not in result.stderr


def test_without_a_passphrase_or_a_terminal_the_cli_exits_4_naming_the_variable(
    cli: Cli, initialized: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CPAY_KEY_PASSPHRASE")

    result = cli("balance")

    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr.startswith("cpay: ")
    assert "CPAY_KEY_PASSPHRASE" in result.stderr


def test_init_without_a_passphrase_or_a_terminal_leaves_nothing_behind(
    cli: Cli, cpay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CPAY_KEY_PASSPHRASE")

    result = cli("init", "--handle", "alice")

    assert result.exit_code == 4
    assert "CPAY_KEY_PASSPHRASE" in result.stderr
    assert key_files(cpay_home) == []
    assert not (cpay_home / "config" / "config.json").exists()
    assert not list((cpay_home / "data").rglob("*.db"))


def test_a_passphrase_file_unlocks_the_key_file(
    cli: Cli, initialized: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n")
    monkeypatch.delenv("CPAY_KEY_PASSPHRASE")
    monkeypatch.setenv("CPAY_KEY_PASSPHRASE_FILE", str(passphrase_file))

    me = cli.json("whoami")

    assert me["handle"] == "@alice"
    assert me["key_id"] == initialized["key_id"]


@pytest.mark.parametrize(
    ("content", "says"),
    [
        pytest.param(None, "cannot read CPAY_KEY_PASSPHRASE_FILE", id="missing"),
        pytest.param(b"\xff\xfe\x00bin", "is not UTF-8 text", id="not-text"),
    ],
)
def test_an_unreadable_passphrase_file_exits_4_naming_the_variable(
    cli: Cli,
    initialized: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: bytes | None,
    says: str,
) -> None:
    monkeypatch.delenv("CPAY_KEY_PASSPHRASE")
    path = tmp_path / "passphrase"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setenv("CPAY_KEY_PASSPHRASE_FILE", str(path))

    result = cli("whoami")

    assert result.exit_code == 4
    assert result.stdout == ""
    assert says in result.stderr
    assert "internal error" not in result.stderr


# --- the OS keyring ------------------------------------------------------------------------


def test_a_key_round_trips_through_the_keyring_without_a_passphrase(
    memory_keyring: Secrets, tmp_path: Path
) -> None:
    store = KeyStore(tmp_path / "keys", never_asked)
    key = SigningKey.generate()

    store.save(KEY_NAME, key, Backend.KEYRING)
    loaded = store.load(KEY_NAME, key.key_id, Backend.KEYRING)

    assert loaded.public_key == key.public_key
    assert list(memory_keyring) == [(KEYRING_SERVICE, KEY_NAME)]
    assert not (tmp_path / "keys").exists()

    store.delete(KEY_NAME, Backend.KEYRING)

    assert memory_keyring == {}
    with pytest.raises(Unauthenticated, match="no key for"):
        store.load(KEY_NAME, key.key_id, Backend.KEYRING)
    store.delete(KEY_NAME, Backend.KEYRING)  # deleting what is gone is not an error


def test_a_working_keyring_is_chosen_when_there_is_no_preference(
    memory_keyring: Secrets,
) -> None:
    assert choose_backend(None) is Backend.KEYRING
    assert choose_backend("file") is Backend.FILE


def test_the_key_file_is_chosen_when_the_keyring_cannot_work(failing_keyring: None) -> None:
    assert choose_backend(None) is Backend.FILE
    assert choose_backend("keyring") is Backend.KEYRING


def test_an_unknown_key_store_preference_is_refused() -> None:
    with pytest.raises(InvalidInput, match="CPAY_KEYSTORE='vault' is not a key store"):
        choose_backend("vault")


def test_init_with_a_working_keyring_keeps_keys_out_of_files(
    cli: Cli, cpay_home: Path, memory_keyring: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CPAY_KEYSTORE")
    monkeypatch.delenv("CPAY_KEY_PASSPHRASE")

    created = cli.json("init", "--handle", "alice")

    assert created["keystore"] == "keyring"
    assert key_files(cpay_home) == []
    assert len(memory_keyring) == 2
    assert cli.json("whoami")["key_id"] == created["key_id"]
    config = (cpay_home / "config" / "config.json").read_text()
    assert all(secret not in config for secret in memory_keyring.values())


# --- secrets stay off screen ---------------------------------------------------------------


def test_no_command_prints_the_passphrase_or_a_private_key(
    cli: Cli, cpay_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = [
        cli("init", "--handle", "alice", "-o", "json"),
        cli("user", "add", "bob"),
        cli("admin", "mint", "@alice", "10", "DBL", "--yes", "-o", "json"),
        cli("key", "rotate"),
        cli("whoami", "-o", "json"),
        cli("key", "list", "-o", "csv"),
        cli("--debug", "--as", "bob", "verify", "-o", "json"),
    ]
    monkeypatch.setenv("CPAY_KEY_PASSPHRASE", "a wrong guess")
    runs.append(cli("--debug", "balance"))

    assert [r.exit_code for r in runs] == [0, 0, 0, 0, 0, 0, 0, 4]
    seeds = seeds_in(cpay_home)
    assert len(seeds) == 3  # engine, @alice's rotated key, @bob
    for run in runs:
        for stream in (run.stdout_bytes, run.stderr_bytes):
            assert PASSPHRASE.encode() not in stream
            assert b"a wrong guess" not in stream
            for seed in seeds:
                assert all(leak not in stream for leak in encodings_of(seed))


@pytest.mark.parametrize("short", ["a", "1234567"])
def test_a_passphrase_too_short_to_protect_a_key_file_is_refused_and_nothing_is_left(
    cli: Cli, cpay_home: Path, monkeypatch: pytest.MonkeyPatch, short: str
) -> None:
    monkeypatch.setenv("CPAY_KEY_PASSPHRASE", short)

    result = cli("init", "--handle", "alice")

    assert result.exit_code == 2
    assert f"a passphrase of {len(short)} characters cannot protect a key file" in result.stderr
    assert key_files(cpay_home) == []
    assert not (cpay_home / "config" / "config.json").exists()
    assert not list((cpay_home / "data").rglob("*.db"))
