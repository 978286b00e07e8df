"""Profiles: which wallet a command talks to, and which device keys it may sign with.

Stored as JSON in the config directory. Every change is a read-modify-write under a
lock on the file (`Config.change`), written atomically: cpay processes sharing a
CPAY_HOME (a script, a cron job, the TUI) keep each other's changes. A profile holds
no secrets: only key ids and the key store each private key lives in.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cpay_engine.errors import FailedPrecondition, InvalidInput, NotFound

DEFAULT_PROFILE = "default"
_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,31}\Z")


def check_profile_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise InvalidInput(
            f"'{name}' is not a profile name: use up to 32 letters, digits, '-' or '_'"
        )
    return name


@dataclass
class KeyRef:
    key_id: str
    keystore: str  # "keyring" or "file"
    sent_at_ms: int = 0  # pending keys: when the request that registers it was sent


@dataclass
class Profile:
    """mode 'local': the in-process engine on `db` (a wallet, or a server's database
    administered directly); mode 'remote': a CPay server at `server`."""

    name: str
    mode: str = "local"
    db: str = ""
    default_user: str = ""
    users: dict[str, KeyRef] = field(default_factory=dict)
    engine_key: KeyRef | None = None
    server: str = ""
    ca: str = ""
    # Receipt keys pinned at enrollment (key id -> hex public key), for offline checks.
    engine_public_keys: dict[str, str] = field(default_factory=dict)
    # Keys sent to the engine to be registered (a rotation, a new user, an enrollment)
    # whose answer this device has not heard: saved before sending, settled by the next
    # command (cpay_cli.session.Session.settle_pending).
    pending: dict[str, KeyRef] = field(default_factory=dict)

    @property
    def target(self) -> str:
        return self.server if self.mode == "remote" else self.db

    def adopt(self, handle: str, ref: KeyRef) -> KeyRef | None:
        """`ref`, pending until now, becomes `handle`'s key on this device; returns the
        key it replaces, if any (its file is the caller's to delete)."""
        self.pending.pop(handle, None)
        replaced = self.users.get(handle)
        self.users[handle] = KeyRef(ref.key_id, ref.keystore)
        if not self.default_user:
            self.default_user = handle
        return replaced

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("name")
        refs = [*doc["users"].values(), *doc["pending"].values(), doc["engine_key"] or {}]
        for ref in refs:
            if not ref.get("sent_at_ms"):  # only pending keys have one
                ref.pop("sent_at_ms", None)
        return doc

    @classmethod
    def from_json(cls, name: str, doc: object) -> Profile:
        """A profile as the config file holds it; ConfigError says where it is wrong."""
        where = f"profiles.{name}"
        p = _object(doc, where)
        mode = _text(p, "mode", where, "local")
        if mode not in MODES:
            raise ConfigError(f"{where}.mode is '{mode}', not one of {', '.join(MODES)}")
        engine = p.get("engine_key")
        users = _object(p.get("users", {}), f"{where}.users")
        pinned = _object(p.get("engine_public_keys", {}), f"{where}.engine_public_keys")
        pending = _object(p.get("pending", {}), f"{where}.pending")
        return cls(
            name=name,
            mode=mode,
            db=_text(p, "db", where),
            default_user=_text(p, "default_user", where),
            users={h: _key_ref(ref, f"{where}.users.{h}") for h, ref in users.items()},
            engine_key=None if engine is None else _key_ref(engine, f"{where}.engine_key"),
            server=_text(p, "server", where),
            ca=_text(p, "ca", where),
            engine_public_keys={k: _text(pinned, k, f"{where}.engine_public_keys") for k in pinned},
            pending={h: _key_ref(ref, f"{where}.pending.{h}") for h, ref in pending.items()},
        )


MODES = ("local", "remote")
KEYSTORES = ("keyring", "file")


class ConfigError(ValueError):
    """The config file parses as JSON but is not what CPay writes."""


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} should be an object, not {type(value).__name__}")
    return value


def _text(doc: dict[str, Any], key: str, where: str, default: str = "") -> str:
    value = doc.get(key, default)
    if not isinstance(value, str):
        name = f"{where}.{key}" if where else key
        raise ConfigError(f"{name} should be a string, not {type(value).__name__}")
    return value


def _key_ref(value: object, where: str) -> KeyRef:
    ref = _object(value, where)
    keystore = _text(ref, "keystore", where)
    if keystore not in KEYSTORES:
        raise ConfigError(f"{where}.keystore is '{keystore}', not one of {', '.join(KEYSTORES)}")
    key_id = _text(ref, "key_id", where)
    if not key_id:
        raise ConfigError(f"{where}.key_id is missing")
    sent_at = ref.get("sent_at_ms", 0)
    if not isinstance(sent_at, int) or isinstance(sent_at, bool):
        raise ConfigError(f"{where}.sent_at_ms should be a number")
    return KeyRef(key_id, keystore, sent_at)


@dataclass
class Config:
    path: Path
    current: str = DEFAULT_PROFILE
    profiles: dict[str, Profile] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Config:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                f"the config file {path} cannot be read ({exc}): fix or move it"
            ) from None
        try:
            top = _object(doc, "the whole file")
            current = _text(top, "current", "", DEFAULT_PROFILE)
            listed = _object(top.get("profiles", {}), "profiles")
            profiles = {name: Profile.from_json(name, p) for name, p in listed.items()}
        except ConfigError as exc:
            raise InvalidInput(
                f"the config file {path} is not a CPay config ({exc}): fix or move it"
            ) from None
        return cls(path, current, profiles)

    def change(self, edit: Callable[[Config], None]) -> None:
        """Apply `edit` to the config as it is on disk now, under the config lock, and
        save it; this object then holds the result. Two processes changing profiles at
        once both keep their change (no lost update). Raises FailedPrecondition, saying
        what to fix, when the file cannot be written (nothing is changed then)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with _locked(self.path.with_name(self.path.name + ".lock")):
                fresh = Config.load(self.path)
                edit(fresh)
                fresh._write()
        except OSError as exc:
            raise FailedPrecondition(
                f"could not save the config file {self.path} ({exc.strerror or exc}): "
                "free some disk space or fix its permissions, then run the command again"
            ) from None
        self.current, self.profiles = fresh.current, fresh.profiles

    def _write(self) -> None:
        doc = {
            "current": self.current,
            "profiles": {name: p.to_json() for name, p in sorted(self.profiles.items())},
        }
        text = json.dumps(doc, indent=2) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())  # the new file is whole before it replaces the old
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def get(self, name: str) -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            hint = (
                "run `cpay init` to create a wallet"
                if not self.profiles
                else f"known profiles: {', '.join(sorted(self.profiles))}"
            )
            raise NotFound(f"no profile '{name}': {hint}") from None


@contextlib.contextmanager
def _locked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive advisory lock on `path` (created if missing) for the block: other
    cpay processes wait for it, or (wait=False) are told it is held (the block gets
    False and runs without it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; changes are still atomic
            yield True
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # closing releases the lock


def registering(
    config: Config, profile: str, *, wait: bool = True
) -> contextlib.AbstractContextManager[bool]:
    """The lock a command holds from noting a new key of `profile` as pending until it
    adopts or drops it (cpay_cli.registering): registrations of one profile run one at
    a time, and settling (Session.settle_pending) leaves alone a key whose command is
    still waiting for its answer."""
    return _locked(config.path.with_name(f"{profile}.registering.lock"), wait=wait)
