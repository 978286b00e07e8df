"""Ed25519 keys: device keys that sign requests, the engine key that signs receipts.

The private half never leaves this object except encrypted (see keystore).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cpay_engine.domain.signing import key_id_for
from cpay_engine.errors import InvalidInput


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with its public half and key id."""

    _private: Ed25519PrivateKey
    public_key: bytes
    key_id: str

    @classmethod
    def generate(cls) -> SigningKey:
        return cls.from_private(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != 32:
            raise InvalidInput("an Ed25519 private key seed is 32 bytes")
        return cls.from_private(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_private(cls, private: Ed25519PrivateKey) -> SigningKey:
        # *_raw(): avoids importing the serialization package (~25 ms at every start)
        public = private.public_key().public_bytes_raw()
        return cls(private, public, key_id_for(public))

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def seed(self) -> bytes:
        """The raw 32-byte seed, for the keystore to encrypt. Never print or log it."""
        return self._private.private_bytes_raw()

    def __repr__(self) -> str:  # keep the private key out of logs and tracebacks
        return f"SigningKey(key_id={self.key_id!r})"


@functools.lru_cache(maxsize=4096)
def _public(public_key: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_key)


def verify_signature(public_key: bytes, signature: bytes, data: bytes) -> bool:
    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        _public(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def check_public_key(public_key: bytes) -> bytes:
    if len(public_key) != 32:
        raise InvalidInput("a public key must be a raw 32-byte Ed25519 key")
    try:
        Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError:
        raise InvalidInput("the public key is not a valid Ed25519 key") from None
    return public_key
