"""Signed requests: Ed25519 (RFC 8032), the signing input byte for byte, and every way
the engine must refuse an envelope — tampered, wrong key, unknown or revoked key, replayed,
stale, short nonce, unsigned, oversized — plus the role check behind a valid signature."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass

import pytest

from cpay_engine.adapters.crypto import SigningKey, verify_signature
from cpay_engine.bootstrap import open_local_engine
from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.domain.model import Role
from cpay_engine.domain.signing import (
    FRESHNESS_WINDOW_MS,
    MAX_BODY_BYTES,
    NONCE_MAX_BYTES,
    NONCE_MIN_BYTES,
    SIGNING_DOMAIN,
    key_id_for,
    signing_input,
)
from cpay_engine.errors import (
    FailedPrecondition,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from cpay_engine.service.engine import method_name
from cpay_engine.wire import cpay_pb2 as pb
from tests.support import Clock, Wallet

# --- RFC 8032, section 7.1 ---------------------------------------------------------------


@dataclass(frozen=True)
class Rfc8032Vector:
    name: str
    secret_key: str
    public_key: str
    message: str
    signature: str


RFC8032_VECTORS = [
    Rfc8032Vector(
        "TEST 1",
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    Rfc8032Vector(
        "TEST 2",
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    Rfc8032Vector(
        "TEST 3",
        "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
        "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.mark.parametrize("vector", RFC8032_VECTORS, ids=lambda v: v.name)
def test_rfc8032_vectors_derive_the_public_key_and_the_exact_signature(
    vector: Rfc8032Vector,
) -> None:
    key = SigningKey.from_seed(bytes.fromhex(vector.secret_key))
    message = bytes.fromhex(vector.message)
    assert key.public_key == bytes.fromhex(vector.public_key)
    assert key.sign(message) == bytes.fromhex(vector.signature)
    assert key.seed() == bytes.fromhex(vector.secret_key)


@pytest.mark.parametrize("vector", RFC8032_VECTORS, ids=lambda v: v.name)
def test_rfc8032_signatures_verify_and_any_flipped_bit_does_not(vector: Rfc8032Vector) -> None:
    public = bytes.fromhex(vector.public_key)
    message = bytes.fromhex(vector.message)
    signature = bytes.fromhex(vector.signature)
    assert verify_signature(public, signature, message)
    for index in (0, 31, 32, 63):
        flipped = bytearray(signature)
        flipped[index] ^= 0x01
        assert not verify_signature(public, bytes(flipped), message)
    assert not verify_signature(public, signature, message + b"\x00")
    assert not verify_signature(public, signature[:63], message)
    assert not verify_signature(public[:31], signature, message)


def test_a_seed_of_the_wrong_length_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        SigningKey.from_seed(b"\x00" * 31)


def test_the_signing_key_repr_never_shows_the_private_key() -> None:
    key = SigningKey.from_seed(bytes.fromhex(RFC8032_VECTORS[0].secret_key))
    assert RFC8032_VECTORS[0].secret_key not in repr(key)
    assert key.key_id in repr(key)


# --- the signing input (docs/protocol.md) ------------------------------------------------

DOC_SEED = bytes(range(32))
DOC_PUBLIC_KEY = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
DOC_KEY_ID = "k56475aa75463474c0285df5d"
DOC_BODY = "0a0c7061792d30303030303030311203626f6218e209220344424c2a056c756e6368"
DOC_BODY_SHA256 = "332ef493d63ebd5135913a60a2477107d396f9147ae03c3fc42be91dde9178c9"
DOC_SIGNATURE = (
    "db95a810ce7f3b5f91d3068dba884d3e4e6e1ac9c5b2db7d4f6c20ef642134ba"
    "cba831950ff7ad930144bc139cc8422e5d63435748dfcd7f42d2856718d8d30f"
)


def test_signing_input_is_six_fields_joined_by_line_feeds() -> None:
    body = b'{"any": "bytes"}'
    nonce = bytes(range(16))
    data = signing_input("/cpay.v1.CPayService/GetBalances", "kabc", 1790000000000, nonce, body)
    assert data == (
        b"CPAY-SIGNED-REQUEST-V1\n"
        b"/cpay.v1.CPayService/GetBalances\n"
        b"kabc\n"
        b"1790000000000\n"
        b"000102030405060708090a0b0c0d0e0f\n" + hashlib.sha256(body).hexdigest().encode("ascii")
    )
    assert data.split(b"\n")[0] == SIGNING_DOMAIN
    assert not data.endswith(b"\n")


def test_the_documented_protocol_vector_reproduces_byte_for_byte() -> None:
    key = SigningKey.from_seed(DOC_SEED)
    body = bytes.fromhex(DOC_BODY)
    nonce = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    method = method_name("ProcessPayment")
    assert method == "/cpay.v1.CPayService/ProcessPayment"
    assert key.public_key.hex() == DOC_PUBLIC_KEY
    assert key.key_id == DOC_KEY_ID
    assert hashlib.sha256(body).hexdigest() == DOC_BODY_SHA256
    assert (
        body
        == pb.PaymentRequest.Body(
            payment_id="pay-00000001",
            recipient="bob",
            amount_minor=1250,
            currency="DBL",
            memo="lunch",
        ).SerializeToString()
    )
    data = signing_input(method, DOC_KEY_ID, 1790000000000, nonce, body)
    assert data == "\n".join(
        [
            "CPAY-SIGNED-REQUEST-V1",
            "/cpay.v1.CPayService/ProcessPayment",
            DOC_KEY_ID,
            "1790000000000",
            "000102030405060708090a0b0c0d0e0f",
            DOC_BODY_SHA256,
        ]
    ).encode("ascii")
    assert key.sign(data).hex() == DOC_SIGNATURE


def test_the_signature_binds_every_field_of_the_signing_input() -> None:
    args = ("/cpay.v1.CPayService/GetBalances", "kabc", 1790000000000, bytes(16), b"body")
    base = signing_input(*args)
    variants = [
        signing_input("/cpay.v1.CPayService/GetAccount", *args[1:]),
        signing_input(args[0], "kabd", *args[2:]),
        signing_input(*args[:2], 1790000000001, *args[3:]),
        signing_input(*args[:3], bytes(15) + b"\x01", args[4]),
        signing_input(*args[:4], b"bodz"),
    ]
    assert len({base, *variants}) == 6


def test_key_id_is_k_plus_24_hex_digits_of_the_public_key_sha256() -> None:
    public = bytes.fromhex(RFC8032_VECTORS[0].public_key)
    key_id = key_id_for(public)
    assert key_id == "k" + hashlib.sha256(public).hexdigest()[:24]
    assert len(key_id) == 25
    assert key_id_for(bytes.fromhex(DOC_PUBLIC_KEY)) == DOC_KEY_ID
    assert SigningKey.from_seed(DOC_SEED).key_id == DOC_KEY_ID
    assert key_id_for(bytes.fromhex(RFC8032_VECTORS[1].public_key)) != key_id


# --- envelopes through a real engine -----------------------------------------------------


def envelope(
    key: SigningKey,
    rpc: str,
    body: bytes,
    *,
    timestamp_ms: int,
    nonce: bytes | None = None,
    key_id: str | None = None,
) -> pb.SignedRequest:
    """A SignedRequest built the way SignedClient._call builds it, with every field settable."""
    nonce = os.urandom(16) if nonce is None else nonce
    key_id = key.key_id if key_id is None else key_id
    signature = key.sign(signing_input(method_name(rpc), key_id, timestamp_ms, nonce, body))
    return pb.SignedRequest(
        body=body, key_id=key_id, timestamp_ms=timestamp_ms, nonce=nonce, signature=signature
    )


def payment_body(payment_id: str, recipient: str = "bob", amount_minor: int = 1_000) -> bytes:
    return pb.PaymentRequest.Body(
        payment_id=payment_id, recipient=recipient, amount_minor=amount_minor, currency="DBL"
    ).SerializeToString()


def send_payment(wallet: Wallet, signed: pb.SignedRequest) -> pb.PaymentResponse:
    response = wallet.engine.dispatch(
        method_name("ProcessPayment"), pb.PaymentRequest(signed=signed)
    )
    assert isinstance(response, pb.PaymentResponse)
    return response


def snapshot(wallet: Wallet) -> dict[str, object]:
    """Everything a request could change: balances, ledger rows, audit entries, spent nonces."""
    with closing(sqlite3.connect(wallet.path)) as db:
        return {
            "accounts": db.execute(
                "SELECT name, balance_minor FROM accounts ORDER BY id"
            ).fetchall(),
            **{
                table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in (
                    "transactions",
                    "postings",
                    "audit_log",
                    "nonces",
                    "users",
                    "device_keys",
                )
            },
            "receipts": db.execute(
                "SELECT count(*) FROM transactions WHERE receipt_signature IS NOT NULL"
            ).fetchone()[0],
        }


def dbl_balance(wallet: Wallet, handle: str) -> int:
    [balance] = wallet.client(handle).balances("DBL")
    return balance.available_minor


@pytest.fixture
def funded(wallet: Wallet) -> Wallet:
    """@alice (admin) holds 100.00 DBL; @bob and @carol are plain users with nothing."""
    wallet.add_user("bob")
    wallet.add_user("carol")
    wallet.mint("alice", 10_000)
    return wallet


def test_a_correctly_signed_raw_envelope_is_applied(funded: Wallet, clock: Clock) -> None:
    signed = envelope(
        funded.admin_key, "ProcessPayment", payment_body("pay-raw-0001"), timestamp_ms=clock()
    )
    response = send_payment(funded, signed)
    assert response.transaction.id == "pay-raw-0001"
    assert response.transaction.status == pb.TRANSACTION_STATUS_COMPLETED
    assert dbl_balance(funded, "bob") == 1_000


def test_a_request_with_a_tampered_body_is_rejected_and_nothing_changes(
    funded: Wallet, clock: Clock
) -> None:
    signed = envelope(
        funded.admin_key, "ProcessPayment", payment_body("pay-tamper-01"), timestamp_ms=clock()
    )
    signed.body = payment_body("pay-tamper-01", amount_minor=9_000)
    before = snapshot(funded)
    with pytest.raises(Unauthenticated, match="signature does not verify"):
        send_payment(funded, signed)
    assert snapshot(funded) == before


def test_a_signature_made_for_another_method_is_rejected(funded: Wallet, clock: Clock) -> None:
    # Same body bytes, signed for GetTransaction: the method is part of what is signed.
    signed = envelope(
        funded.admin_key, "GetTransaction", payment_body("pay-method-01"), timestamp_ms=clock()
    )
    before = snapshot(funded)
    with pytest.raises(Unauthenticated):
        send_payment(funded, signed)
    assert snapshot(funded) == before


def test_a_request_carrying_one_key_id_but_signed_by_another_key_is_rejected(
    funded: Wallet, clock: Clock
) -> None:
    bob_key = funded.keys["bob"]
    signed = envelope(
        bob_key,
        "ProcessPayment",
        payment_body("pay-wrongkey1"),
        timestamp_ms=clock(),
        key_id=funded.admin_key.key_id,
    )
    before = snapshot(funded)
    with pytest.raises(Unauthenticated, match="signature does not verify"):
        send_payment(funded, signed)
    assert snapshot(funded) == before


def test_a_request_from_an_unregistered_key_is_rejected(funded: Wallet, clock: Clock) -> None:
    stranger = SigningKey.generate()
    before = snapshot(funded)
    with pytest.raises(Unauthenticated, match="unknown key"):
        funded.client_for_key(stranger).balances()
    signed = envelope(
        stranger, "ProcessPayment", payment_body("pay-stranger"), timestamp_ms=clock()
    )
    with pytest.raises(Unauthenticated, match="unknown key"):
        send_payment(funded, signed)
    assert snapshot(funded) == before


def test_a_key_revoked_by_another_process_stops_its_next_request(funded: Wallet) -> None:
    """This engine has already seen bob's key (and remembers it); another engine on the
    same wallet file (another `cpay` process) rotates the key out. The next request signed
    with the old key is refused as revoked, and nothing at all is written, not even its
    nonce: the revocation is checked in the transaction that would have applied it."""
    funded.mint("bob", 500)
    old_key, new_key = funded.keys["bob"], SigningKey.generate()
    bob_here = funded.client("bob")
    assert [b.available_minor for b in bob_here.balances()] == [500]
    other = open_local_engine(funded.path, receipt_key=lambda: funded.engine_key)
    try:
        SignedClient(InProcessTransport(other), old_key).rotate_key(new_key)
    finally:
        other.close()
    before = snapshot(funded)
    with pytest.raises(Unauthenticated, match="revoked"):
        bob_here.pay(
            payment_id=str(uuid.uuid4()), recipient="@carol", amount_minor=100, currency="DBL"
        )
    with pytest.raises(Unauthenticated, match="revoked"):
        bob_here.balances()
    assert snapshot(funded) == before
    assert [b.available_minor for b in funded.client_for_key(new_key).balances()] == [500]


def test_a_rotated_out_key_is_revoked_and_rejected(funded: Wallet) -> None:
    old_key, new_key = funded.keys["bob"], SigningKey.generate()
    bob = funded.client("bob")
    result = bob.rotate_key(new_key)
    assert result.revoked_key_id == old_key.key_id
    assert result.new_key.key_id == new_key.key_id
    before = snapshot(funded)
    with pytest.raises(Unauthenticated, match="revoked"):
        funded.client_for_key(old_key).balances()
    assert snapshot(funded) == before
    # the rotated client signs with the new key and keeps working
    assert [b.currency for b in bob.balances()] == ["DBL"]
    keys = {k.key_id: k.revoked for k in funded.client_for_key(new_key).list_keys()}
    assert keys == {old_key.key_id: True, new_key.key_id: False}


def test_a_user_cannot_revoke_their_only_active_key(funded: Wallet) -> None:
    bob = funded.client("bob")
    with pytest.raises(FailedPrecondition, match="only active key"):
        bob.revoke_key(funded.keys["bob"].key_id)
    assert [k.revoked for k in bob.list_keys()] == [False]


def test_a_user_cannot_revoke_someone_elses_key(funded: Wallet) -> None:
    with pytest.raises(NotFound):
        funded.client("bob").revoke_key(funded.keys["carol"].key_id)
    assert [k.revoked for k in funded.client("carol").list_keys()] == [False]


def test_a_replayed_envelope_is_rejected_and_the_payment_applies_exactly_once(
    funded: Wallet, clock: Clock
) -> None:
    signed = envelope(
        funded.admin_key, "ProcessPayment", payment_body("pay-replay-01"), timestamp_ms=clock()
    )
    first = send_payment(funded, signed)
    assert first.transaction.status == pb.TRANSACTION_STATUS_COMPLETED
    after_first = snapshot(funded)
    with pytest.raises(Unauthenticated, match="replayed nonce"):
        send_payment(funded, signed)
    assert snapshot(funded) == after_first
    assert dbl_balance(funded, "alice") == 9_000
    assert dbl_balance(funded, "bob") == 1_000


def test_a_request_that_fails_its_use_case_still_spends_its_nonce(
    funded: Wallet, clock: Clock
) -> None:
    signed = envelope(
        funded.keys["bob"],
        "ProcessPayment",
        payment_body("pay-nomoney1", "carol"),
        timestamp_ms=clock(),
    )
    with pytest.raises(InsufficientFunds):
        send_payment(funded, signed)
    with pytest.raises(Unauthenticated, match="replayed nonce"):
        send_payment(funded, signed)


def test_the_same_nonce_from_two_different_keys_is_not_a_replay(
    funded: Wallet, clock: Clock
) -> None:
    nonce = os.urandom(16)
    body = pb.GetAccountRequest.Body().SerializeToString()
    handles = []
    for key in (funded.admin_key, funded.keys["bob"]):
        signed = envelope(key, "GetAccount", body, timestamp_ms=clock(), nonce=nonce)
        response = funded.engine.dispatch(
            method_name("GetAccount"), pb.GetAccountRequest(signed=signed)
        )
        assert isinstance(response, pb.GetAccountResponse)
        handles.append(response.handle)
    assert handles == ["alice", "bob"]


@pytest.mark.parametrize("skew_s", [-301, 301])
def test_a_request_more_than_300_seconds_off_the_engine_clock_is_rejected(
    funded: Wallet, clock: Clock, skew_s: int
) -> None:
    client = funded.client_for_key(funded.admin_key, clock=lambda: clock() + skew_s * 1000)
    before = snapshot(funded)
    with pytest.raises(Unauthenticated) as caught:
        client.pay(payment_id="pay-skewed-01", recipient="bob", amount_minor=1, currency="DBL")
    assert "301 s" in caught.value.message
    assert ("ahead of" if skew_s > 0 else "behind") in caught.value.message
    assert snapshot(funded) == before


@pytest.mark.parametrize("skew_s", [-299, 299])
def test_a_request_within_300_seconds_of_the_engine_clock_is_accepted(
    funded: Wallet, clock: Clock, skew_s: int
) -> None:
    client = funded.client_for_key(funded.admin_key, clock=lambda: clock() + skew_s * 1000)
    result = client.pay(payment_id="pay-skewed-02", recipient="bob", amount_minor=1, currency="DBL")
    assert not result.replayed
    assert dbl_balance(funded, "bob") == 1


def test_an_envelope_replayed_after_its_window_is_rejected_as_stale(
    funded: Wallet, clock: Clock
) -> None:
    signed = envelope(
        funded.admin_key, "ProcessPayment", payment_body("pay-stale-001"), timestamp_ms=clock()
    )
    send_payment(funded, signed)
    clock.advance(FRESHNESS_WINDOW_MS + 1)
    with pytest.raises(Unauthenticated, match="behind"):
        send_payment(funded, signed)
    [balance] = funded.client_for_key(funded.keys["bob"], clock=clock).balances("DBL")
    assert balance.available_minor == 1_000


def test_the_nonce_of_an_accepted_envelope_is_remembered_while_the_envelope_is_fresh(
    funded: Wallet, clock: Clock
) -> None:
    # An envelope stamped 299 s ahead of the engine stays fresh until its timestamp + 300 s,
    # so its nonce must be remembered at least that long.
    stamped = clock() + 299_000
    signed = envelope(
        funded.admin_key, "ProcessPayment", payment_body("pay-ahead-001"), timestamp_ms=stamped
    )
    send_payment(funded, signed)
    with closing(sqlite3.connect(funded.path)) as db:
        (expires_at_ms,) = db.execute(
            "SELECT expires_at_ms FROM nonces WHERE key_id = ? AND nonce = ?",
            (funded.admin_key.key_id, signed.nonce),
        ).fetchone()
    assert expires_at_ms >= stamped + FRESHNESS_WINDOW_MS


def test_an_envelope_from_a_clock_ahead_cannot_be_replayed_once_old_nonces_are_pruned(
    funded: Wallet, clock: Clock
) -> None:
    stamped = clock() + 299_000
    signed = envelope(
        funded.admin_key, "ProcessPayment", payment_body("pay-ahead-002"), timestamp_ms=stamped
    )
    send_payment(funded, signed)
    # 400 s later the envelope is still fresh (its stamp is 101 s behind the engine)...
    clock.advance(400_000)
    # ...and ordinary traffic lets the engine prune nonces it believes have expired.
    carol = funded.client_for_key(funded.keys["carol"], clock=clock)
    with closing(sqlite3.connect(funded.path)) as db:
        for _ in range(700):  # the engine prunes expired nonces now and then: give it chances
            carol.balances()
            remembered = db.execute(
                "SELECT count(*) FROM nonces WHERE key_id = ? AND nonce = ?",
                (funded.admin_key.key_id, signed.nonce),
            ).fetchone()[0]
            if not remembered:
                break
    before = snapshot(funded)
    with pytest.raises(Unauthenticated):
        send_payment(funded, signed)
    assert snapshot(funded) == before


@pytest.mark.parametrize("length", [0, NONCE_MIN_BYTES - 1, NONCE_MAX_BYTES + 1])
def test_a_nonce_outside_16_to_64_bytes_is_rejected(
    funded: Wallet, clock: Clock, length: int
) -> None:
    signed = envelope(
        funded.admin_key,
        "ProcessPayment",
        payment_body("pay-nonce-001"),
        timestamp_ms=clock(),
        nonce=os.urandom(length),
    )
    before = snapshot(funded)
    with pytest.raises(Unauthenticated, match="nonce"):
        send_payment(funded, signed)
    assert snapshot(funded) == before


@pytest.mark.parametrize("length", [NONCE_MIN_BYTES, NONCE_MAX_BYTES])
def test_a_nonce_of_16_or_64_bytes_is_accepted(funded: Wallet, clock: Clock, length: int) -> None:
    signed = envelope(
        funded.admin_key,
        "ProcessPayment",
        payment_body(f"pay-nonce-{length:03d}"),
        timestamp_ms=clock(),
        nonce=os.urandom(length),
    )
    assert send_payment(funded, signed).transaction.status == pb.TRANSACTION_STATUS_COMPLETED


def test_an_unsigned_request_is_rejected(funded: Wallet, clock: Clock) -> None:
    body = payment_body("pay-unsigned1")
    unsigned = [
        pb.SignedRequest(),
        pb.SignedRequest(
            body=body, key_id=funded.admin_key.key_id, timestamp_ms=clock(), nonce=os.urandom(16)
        ),
        pb.SignedRequest(
            body=body, timestamp_ms=clock(), nonce=os.urandom(16), signature=b"x" * 64
        ),
    ]
    before = snapshot(funded)
    for signed in unsigned:
        with pytest.raises(Unauthenticated, match="not signed"):
            send_payment(funded, signed)
    with pytest.raises(Unauthenticated, match="not signed"):
        funded.engine.dispatch(method_name("ProcessPayment"), pb.PaymentRequest())
    assert snapshot(funded) == before


def padded_body(total_bytes: int) -> bytes:
    """A GetBalances body of exactly `total_bytes`: one unknown length-delimited field (#100)."""
    tag = bytes([0xA2, 0x06])  # field 100, wire type 2
    payload_len = total_bytes - len(tag) - 3
    assert 2**14 <= payload_len < 2**21  # its length fits a 3-byte varint
    length = bytes(
        [(payload_len & 0x7F) | 0x80, ((payload_len >> 7) & 0x7F) | 0x80, payload_len >> 14]
    )
    body = tag + length + b"\x00" * payload_len
    assert len(body) == total_bytes
    return body


def test_an_oversized_body_is_rejected_as_invalid_input(funded: Wallet, clock: Clock) -> None:
    signed = envelope(
        funded.admin_key, "GetBalances", padded_body(MAX_BODY_BYTES + 1), timestamp_ms=clock()
    )
    before = snapshot(funded)
    with pytest.raises(InvalidInput) as caught:
        funded.engine.dispatch(method_name("GetBalances"), pb.GetBalancesRequest(signed=signed))
    assert str(MAX_BODY_BYTES) in caught.value.message
    assert snapshot(funded) == before


def test_a_body_of_exactly_the_limit_is_accepted(funded: Wallet, clock: Clock) -> None:
    signed = envelope(
        funded.admin_key, "GetBalances", padded_body(MAX_BODY_BYTES), timestamp_ms=clock()
    )
    response = funded.engine.dispatch(
        method_name("GetBalances"), pb.GetBalancesRequest(signed=signed)
    )
    assert isinstance(response, pb.GetBalancesResponse)
    assert [b.available_minor for b in response.balances] == [10_000]


def test_an_unknown_method_is_rejected(funded: Wallet, clock: Clock) -> None:
    body = pb.GetBalancesRequest.Body().SerializeToString()
    signed = envelope(funded.admin_key, "DropTables", body, timestamp_ms=clock())
    with pytest.raises(InvalidInput, match="unknown method"):
        funded.engine.dispatch(method_name("DropTables"), pb.GetBalancesRequest(signed=signed))


# --- roles -------------------------------------------------------------------------------


def test_a_plain_user_cannot_mint_dabloons(funded: Wallet) -> None:
    before = snapshot(funded)
    with pytest.raises(PermissionDenied) as caught:
        funded.client("bob").mint(
            payment_id=str(uuid.uuid4()), recipient="bob", amount_minor=1_000, currency="DBL"
        )
    assert caught.value.message == "minting Dabloons needs the admin role; @bob is a user"
    assert snapshot(funded) == before


def test_a_plain_user_cannot_create_users(funded: Wallet) -> None:
    before = snapshot(funded)
    with pytest.raises(PermissionDenied, match="adding a user needs the admin role"):
        funded.client("bob").create_user(
            handle="mallory", role=Role.ADMIN, public_key=SigningKey.generate().public_key
        )
    assert snapshot(funded) == before


def test_an_auditor_cannot_move_money(funded: Wallet) -> None:
    funded.add_user("audrey", Role.AUDITOR)
    funded.mint("audrey", 500)
    with pytest.raises(
        PermissionDenied, match="paying needs the admin or user role; @audrey is an auditor"
    ):
        funded.client("audrey").pay(
            payment_id=str(uuid.uuid4()), recipient="bob", amount_minor=100, currency="DBL"
        )
    assert dbl_balance(funded, "audrey") == 500


def test_the_signature_is_checked_before_the_role(funded: Wallet, clock: Clock) -> None:
    body = pb.MintDabloonsRequest.Body(
        payment_id="mint-forged-1", recipient="bob", amount_minor=1, currency="DBL"
    ).SerializeToString()
    signed = envelope(funded.keys["bob"], "MintDabloons", body, timestamp_ms=clock())
    signed.signature = bytes(64)
    with pytest.raises(Unauthenticated):
        funded.engine.dispatch(method_name("MintDabloons"), pb.MintDabloonsRequest(signed=signed))
