"""Ed25519 keys: device keys that sign requests, the engine key that signs receipts.

Signing and verifying go through libsodium as PyNaCl builds and bundles it: on this
project's machines it signs in ~35 µs and verifies in ~75 µs, against ~48 µs and
~153 µs for OpenSSL through `cryptography`, and every request costs one verify and one
or two signatures. The calls go to PyNaCl's compiled module (`nacl._sodium`, the one its
own `nacl.bindings` wrap) because importing `nacl.bindings` loads every primitive's
wrapper, ~50 ms at every `cpay` start against ~2 ms for the module itself; the RFC 8032
vectors in tests/unit/test_signing.py pin the behaviour, pyproject the version range.
`cryptography` still does scrypt and AES-GCM (see keystore).

The private half never leaves this object except encrypted (see keystore).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

from nacl._sodium import ffi, lib  # type: ignore[import-not-found]

from cpay_engine.domain.signing import key_id_for
from cpay_engine.errors import InvalidInput

SIGNATURE_SIZE = 64

if lib.sodium_init() < 0:  # idempotent and thread-safe; picks the CPU's fastest code
    raise ImportError("libsodium could not be initialized")


def _seed_keypair(seed: bytes) -> tuple[bytes, bytes]:
    public = ffi.new("unsigned char[]", 32)
    secret = ffi.new("unsigned char[]", 64)
    if lib.crypto_sign_seed_keypair(public, secret, seed) != 0:
        raise InvalidInput("the Ed25519 seed was refused")
    return bytes(public), bytes(secret)


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with its public half and key id."""

    _seed: bytes = field(repr=False)
    _secret: bytes = field(repr=False)  # libsodium's 64-byte form: seed || public key
    public_key: bytes
    key_id: str

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_seed(os.urandom(32))

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != 32:
            raise InvalidInput("an Ed25519 private key seed is 32 bytes")
        public, secret = _seed_keypair(bytes(seed))
        return cls(bytes(seed), secret, public, key_id_for(public))

    def sign(self, data: bytes) -> bytes:
        signed = ffi.new("unsigned char[]", len(data) + SIGNATURE_SIZE)  # signature || data
        if lib.crypto_sign(signed, ffi.NULL, data, len(data), self._secret) != 0:
            raise RuntimeError("libsodium failed to sign")
        return bytes(ffi.buffer(signed, SIGNATURE_SIZE))

    def seed(self) -> bytes:
        """The raw 32-byte seed, for the keystore to encrypt. Never print or log it."""
        return self._seed

    def __repr__(self) -> str:  # keep the private key out of logs and tracebacks
        return f"SigningKey(key_id={self.key_id!r})"


def verify_signature(public_key: bytes, signature: bytes, data: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != SIGNATURE_SIZE:
        return False
    signed = signature + data
    message = ffi.new("unsigned char[]", len(signed))
    return bool(lib.crypto_sign_open(message, ffi.NULL, signed, len(signed), public_key) == 0)


@functools.lru_cache(maxsize=4096)
def _valid_point(public_key: bytes) -> bool:
    return bool(lib.crypto_core_ed25519_is_valid_point(public_key) == 1)


def check_public_key(public_key: bytes) -> bytes:
    if len(public_key) != 32:
        raise InvalidInput("a public key must be a raw 32-byte Ed25519 key")
    if not _valid_point(public_key):
        raise InvalidInput("the public key is not a valid Ed25519 key")
    return public_key
