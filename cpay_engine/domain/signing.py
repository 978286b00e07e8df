"""The signing input of a SignedRequest, byte for byte (docs/protocol.md).

Domain-separated, and over SHA-256 of the exact body bytes sent, because protobuf
serialization is not canonical. Pure: the Ed25519 part lives in adapters.crypto.
"""

from __future__ import annotations

import hashlib

SIGNING_DOMAIN = b"CPAY-SIGNED-REQUEST-V1"
KEY_PROOF_DOMAIN = b"CPAY-KEY-POSSESSION-V1"
RECEIPT_DOMAIN = b"CPAY-RECEIPT-V1"

FRESHNESS_WINDOW_MS = 300_000
NONCE_MIN_BYTES = 16
NONCE_MAX_BYTES = 64
MAX_BODY_BYTES = 64 * 1024


def signing_input(method: str, key_id: str, timestamp_ms: int, nonce: bytes, body: bytes) -> bytes:
    """DOMAIN \\n method \\n key_id \\n timestamp \\n hex(nonce) \\n hex(sha256(body))."""
    return b"\n".join(
        [
            SIGNING_DOMAIN,
            method.encode("utf-8"),
            key_id.encode("utf-8"),
            str(timestamp_ms).encode("ascii"),
            nonce.hex().encode("ascii"),
            hashlib.sha256(body).hexdigest().encode("ascii"),
        ]
    )


def key_proof_input(signer_key_id: str, new_key_id: str) -> bytes:
    """What a new key signs to prove its holder asked for the rotation."""
    return b"\n".join([KEY_PROOF_DOMAIN, signer_key_id.encode(), new_key_id.encode()])


def receipt_input(payload: bytes) -> bytes:
    return RECEIPT_DOMAIN + b"\n" + payload


def key_id_for(public_key: bytes) -> str:
    """A stable id for a raw 32-byte Ed25519 public key: 'k' + 24 hex of SHA-256."""
    return "k" + hashlib.sha256(public_key).hexdigest()[:24]
