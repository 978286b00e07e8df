"""The test vector in docs/protocol.md matches the code, byte for byte."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from cpay_engine.adapters.crypto import SigningKey, verify_signature
from cpay_engine.domain.signing import signing_input
from cpay_engine.wire import cpay_pb2 as pb

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _vector() -> dict[str, str]:
    text = DOC.read_text()
    block = text.split("### Test vector", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    return dict(re.findall(r"^(\w+)\s+(\S+)$", block, flags=re.M))


def test_documented_vector_signs_to_the_documented_signature() -> None:
    v = _vector()
    key = SigningKey.from_seed(bytes.fromhex(v["seed"]))
    body = bytes.fromhex(v["body"])
    assert key.public_key.hex() == v["public_key"]
    assert key.key_id == v["key_id"]
    assert hashlib.sha256(body).hexdigest() == v["body_sha256"]
    message = signing_input(
        v["method"], v["key_id"], int(v["timestamp_ms"]), bytes.fromhex(v["nonce"]), body
    )
    assert key.sign(message).hex() == v["signature"]
    assert verify_signature(key.public_key, bytes.fromhex(v["signature"]), message)


def test_documented_body_is_the_documented_payment() -> None:
    body = pb.PaymentRequest.Body.FromString(bytes.fromhex(_vector()["body"]))
    assert (body.payment_id, body.recipient, body.amount_minor, body.currency, body.memo) == (
        "pay-00000001",
        "bob",
        1250,
        "DBL",
        "lunch",
    )


def test_documented_signing_input_text_matches() -> None:
    v = _vector()
    text = DOC.read_text()
    shown = text.split("The signing input is therefore:", 1)[1].split("```text", 1)[1]
    shown = shown.split("```", 1)[0].strip("\n")
    message = signing_input(
        v["method"],
        v["key_id"],
        int(v["timestamp_ms"]),
        bytes.fromhex(v["nonce"]),
        bytes.fromhex(v["body"]),
    )
    assert shown.encode() == message
