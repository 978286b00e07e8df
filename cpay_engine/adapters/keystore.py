"""Private keys at rest: the OS keyring, or an encrypted key file where none works.

Never plaintext and never silently: the backend is chosen when a key is saved
(and recorded by the caller), the key is read back after saving, and a key that
cannot be reached raises Unauthenticated with what to do. Passphrases come from a
callable the front end provides (environment, file or prompt), never from argv.

Key file format (JSON, mode 0600): scrypt(n=2^14, r=8, p=1) derives a 256-bit key
that AES-256-GCM uses to seal the 32-byte Ed25519 seed; the key id is the AAD.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.errors import (
    FailedPrecondition,
    InternalError,
    InvalidInput,
    Unauthenticated,
    quoted,
)

KEYRING_SERVICE = "cpay"
FILE_FORMAT = "cpay-key-v1"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
NONCE_BYTES = 12  # AES-GCM's standard nonce

# (confirm) -> passphrase. `confirm` is True when a new key file is being created.
PassphraseSource = Callable[[bool], str]


class Backend(StrEnum):
    KEYRING = "keyring"
    FILE = "file"


def keyring_usable() -> bool:
    """True when the OS keyring has a real backend (not the 'fail' or null one)."""
    try:
        import keyring  # ~170 ms: only when choosing or using this backend
        from keyring.backends import fail
    except ImportError:
        return False
    kr = keyring.get_keyring()
    if isinstance(kr, fail.Keyring):
        return False
    priority: float = getattr(kr, "priority", 0)
    return priority > 0


MIN_PASSPHRASE_CHARS = 8


def choose_backend(preference: str | None) -> Backend:
    """`preference` comes from CPAY_KEYSTORE: 'keyring', 'file' or unset (auto)."""
    checked = check_preference(preference)
    if checked is not None:
        return checked
    return Backend.KEYRING if keyring_usable() else Backend.FILE


def check_preference(preference: str | None) -> Backend | None:
    """CPAY_KEYSTORE's value: a backend, None when unset, and a typo refused (it would
    otherwise be ignored by every command that only reads keys)."""
    if not preference:
        return None
    try:
        return Backend(preference)
    except ValueError:
        raise InvalidInput(
            f"CPAY_KEYSTORE={quoted(preference)} is not a key store: use keyring or file, "
            "or unset it"
        ) from None


class KeyStore:
    def __init__(self, key_dir: Path, passphrase: PassphraseSource) -> None:
        self._dir = key_dir
        self._passphrase = passphrase

    def save(self, name: str, key: SigningKey, backend: Backend) -> None:
        if backend is Backend.KEYRING:
            self._save_keyring(name, key)
        else:
            self._save_file(name, key)
        loaded = self.load(name, key.key_id, backend)
        if loaded.public_key != key.public_key:
            raise InternalError(f"key {key.key_id} did not read back from the {backend} key store")

    def load(
        self,
        name: str,
        key_id: str,
        backend: Backend,
        meanwhile: Callable[[], object] | None = None,
    ) -> SigningKey:
        """The key stored as `name`. `meanwhile`, if given, runs on this thread while a key
        file's scrypt runs on another (it releases the GIL): a command imports what it
        needs there. Only this thread imports: two threads importing at once can deadlock
        when a Ctrl-C lands inside importlib (CPython ignores the KeyboardInterrupt there
        and leaves its import lock held, and the other thread waits on it forever)."""
        if backend is Backend.KEYRING:
            key = self._load_keyring(name)
            if meanwhile is not None:
                meanwhile()
        else:
            key = self._load_file(name, meanwhile)
        if key.key_id != key_id:
            raise Unauthenticated(
                f"the {backend} key store holds a different key for {name} "
                f"(expected {key_id}, found {key.key_id})"
            )
        return key

    def delete(self, name: str, backend: Backend) -> None:
        if backend is Backend.KEYRING:
            import keyring
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):
                keyring.delete_password(KEYRING_SERVICE, name)
        else:
            self.path_for(name).unlink(missing_ok=True)

    def path_for(self, name: str) -> Path:
        safe = name.replace("/", "__").replace(":", "_")
        return self._dir / f"{safe}.key"

    # --- keyring -----------------------------------------------------------------------

    def _save_keyring(self, name: str, key: SigningKey) -> None:
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(KEYRING_SERVICE, name, base64.b64encode(key.seed()).decode())
        except KeyringError as exc:
            raise Unauthenticated(
                f"the OS keyring refused to store the key ({exc}); "
                f"set CPAY_KEYSTORE=file to use an encrypted key file instead"
            ) from None

    def _load_keyring(self, name: str) -> SigningKey:
        import keyring
        from keyring.errors import KeyringError

        try:
            secret = keyring.get_password(KEYRING_SERVICE, name)
        except KeyringError as exc:
            raise Unauthenticated(f"the OS keyring could not be read ({exc})") from None
        if secret is None:
            raise Unauthenticated(
                f"no key for {name} in the OS keyring: restore it from a backup (this device "
                "cannot sign with that key without it)"
            )
        return SigningKey.from_seed(base64.b64decode(secret))

    # --- encrypted file ----------------------------------------------------------------

    def _save_file(self, name: str, key: SigningKey) -> None:
        passphrase = self._passphrase(True)
        if len(passphrase) < MIN_PASSPHRASE_CHARS:
            # scrypt slows a guess down; it cannot make "a" hard to guess
            raise InvalidInput(
                f"a passphrase of {len(passphrase)} characters cannot protect a key file: "
                f"use at least {MIN_PASSPHRASE_CHARS} (a few words work well)"
            )
        salt, nonce = os.urandom(16), os.urandom(NONCE_BYTES)
        sealed = AESGCM(_derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)).encrypt(
            nonce, key.seed(), key.key_id.encode()
        )
        doc = {
            "format": FILE_FORMAT,
            "key_id": key.key_id,
            "public_key": _b64(key.public_key),
            "kdf": {
                "name": "scrypt",
                "n": SCRYPT_N,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
                "salt": _b64(salt),
            },
            "cipher": {"name": "aes-256-gcm", "nonce": _b64(nonce)},
            "ciphertext": _b64(sealed),
        }
        path = self.path_for(name)
        tmp = path.with_suffix(".tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp.unlink(missing_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise FailedPrecondition(
                f"could not write the key file {path} ({exc.strerror or exc}): free some disk "
                "space or fix the permissions of its directory; nothing was registered"
            ) from None

    def _load_file(self, name: str, meanwhile: Callable[[], object] | None = None) -> SigningKey:
        path = self.path_for(name)
        try:
            doc: object = json.loads(path.read_text())
        except FileNotFoundError:
            raise Unauthenticated(
                f"no key file for {name} at {path}: restore it from a backup (this device "
                "cannot sign with that key without it)"
            ) from None
        except (OSError, ValueError) as exc:
            raise Unauthenticated(
                f"the key file {path} cannot be read ({exc}): {DAMAGED_KEY_FILE}"
            ) from None
        sealed = _sealed_key(doc, path)
        passphrase = self._passphrase(False)
        derived = _alongside(
            lambda: _derive(passphrase, sealed.salt, sealed.n, sealed.r, sealed.p), meanwhile
        )
        try:
            seed = AESGCM(derived).decrypt(sealed.nonce, sealed.ciphertext, sealed.key_id.encode())
        except InvalidTag:
            raise Unauthenticated(
                f"wrong passphrase for the key file {path}: check the passphrase (typed, or "
                f"from CPAY_KEY_PASSPHRASE or CPAY_KEY_PASSPHRASE_FILE); if it is right, the "
                f"file is damaged: {DAMAGED_KEY_FILE}"
            ) from None
        return SigningKey.from_seed(seed)


DAMAGED_KEY_FILE = (
    "restore it from a backup; if this key may be in someone else's hands, revoke it from "
    "another device of yours that holds an active key (`cpay key revoke KEY_ID`)"
)


@dataclass(frozen=True)
class _Sealed:
    key_id: str
    salt: bytes
    n: int
    r: int
    p: int
    nonce: bytes
    ciphertext: bytes


def _sealed_key(doc: object, path: Path) -> _Sealed:
    """The fields of a key file, checked. The scrypt cost is bounded too: a file must not
    make the CLI allocate gigabytes before asking."""

    def damaged(why: str) -> Unauthenticated:
        return Unauthenticated(f"{path} is not a CPay key file ({why}): {DAMAGED_KEY_FILE}")

    if not isinstance(doc, dict) or doc.get("format") != FILE_FORMAT:
        raise damaged(f"no {FILE_FORMAT} format marker")
    try:
        kdf, cipher = doc["kdf"], doc["cipher"]
        n, r, p = kdf["n"], kdf["r"], kdf["p"]
        if not all(type(v) is int for v in (n, r, p)):
            raise damaged("the scrypt parameters are not integers")
        if not (2**10 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
            raise damaged(f"scrypt parameters n={n}, r={r}, p={p} are outside what CPay writes")
        nonce = _unb64(cipher["nonce"])
        if len(nonce) != NONCE_BYTES:
            raise damaged(f"the nonce is {len(nonce)} bytes, not {NONCE_BYTES}")
        return _Sealed(
            key_id=str(doc["key_id"]),
            salt=_unb64(kdf["salt"]),
            n=n,
            r=r,
            p=p,
            nonce=nonce,
            ciphertext=_unb64(doc["ciphertext"]),
        )
    except KeyError as exc:
        raise damaged(f"the field {exc} is missing") from None
    except (TypeError, ValueError) as exc:
        raise damaged(f"a field is malformed: {exc}") from None


def _alongside(work: Callable[[], bytes], meanwhile: Callable[[], object] | None) -> bytes:
    """`work()` (C code that imports nothing) on a thread while `meanwhile()` runs here."""
    if meanwhile is None:
        return work()
    done: list[bytes] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # re-raised on the calling thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="cpay-scrypt", daemon=True)
    thread.start()
    try:
        meanwhile()
    finally:
        thread.join()
    if failed:
        raise failed[0]
    return done[0]


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)
