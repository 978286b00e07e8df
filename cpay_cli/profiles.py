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
    def from_json(cls, name: str, doc: dict[str, Any]) -> Profile:
        engine = doc.get("engine_key")
        return cls(
            name=name,
            mode=doc.get("mode", "local"),
            db=doc.get("db", ""),
            default_user=doc.get("default_user", ""),
            users={h: KeyRef(**ref) for h, ref in doc.get("users", {}).items()},
            engine_key=KeyRef(**engine) if engine else None,
            server=doc.get("server", ""),
            ca=doc.get("ca", ""),
            engine_public_keys=dict(doc.get("engine_public_keys", {})),
        )


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
        profiles = {name: Profile.from_json(name, p) for name, p in doc.get("profiles", {}).items()}
        return cls(path, doc.get("current", DEFAULT_PROFILE), profiles)

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
