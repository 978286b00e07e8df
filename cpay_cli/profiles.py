"""Profiles: which wallet a command talks to, and which device keys it may sign with.

Stored as JSON in the config directory, written atomically. A profile holds no
secrets: only key ids and the key store each private key lives in.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cpay_engine.errors import InvalidInput, NotFound

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

    @property
    def target(self) -> str:
        return self.server if self.mode == "remote" else self.db

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("name")
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
    return KeyRef(key_id, keystore)


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

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "current": self.current,
            "profiles": {name: p.to_json() for name, p in sorted(self.profiles.items())},
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, self.path)

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
