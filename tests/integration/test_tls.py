"""The server speaks TLS when given a certificate; clients pin the CA with --ca."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from cpay_engine.client import SignedClient
from cpay_engine.errors import InvalidInput, Unavailable
from cpay_engine.rpc.server import TlsFiles, start_server
from cpay_engine.rpc.transport import GrpcTransport
from tests.support import Wallet

CertificateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _self_signed(directory: Path, key: CertificateKey | None = None) -> TlsFiles:
    key = key or ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return TlsFiles(cert=cert_path, key=key_path)


def test_a_client_that_trusts_the_ca_talks_to_a_tls_server(wallet: Wallet, tmp_path: Path) -> None:
    tls = _self_signed(tmp_path)
    running = start_server(wallet.engine, "localhost:0", tls=tls)
    try:
        client = SignedClient(
            GrpcTransport(f"localhost:{running.port}", ca_file=tls.cert), wallet.keys["alice"]
        )
        assert client.account().handle == "alice"
        client.close()
    finally:
        running.stop(0)


@pytest.mark.parametrize(
    ("server_tls", "client_ca"),
    [
        pytest.param(True, False, id="tls-server-plaintext-client"),
        pytest.param(True, True, id="tls-server-another-ca"),
        pytest.param(False, True, id="plaintext-server-tls-client"),
    ],
)
def test_a_client_whose_tls_does_not_match_the_server_is_told_to_check_tls(
    wallet: Wallet, tmp_path: Path, server_tls: bool, client_ca: bool
) -> None:
    tls = _self_signed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    ca_file = _self_signed(other).cert if client_ca else None  # never the server's CA
    running = start_server(wallet.engine, "localhost:0", tls=tls if server_tls else None)
    try:
        client = SignedClient(
            GrpcTransport(f"localhost:{running.port}", ca_file=ca_file, timeout_s=3),
            wallet.keys["alice"],
        )
        with pytest.raises(Unavailable) as caught:
            client.balances()
        client.close()
    finally:
        running.stop(0)

    assert "nothing was sent" in caught.value.message
    assert "check that TLS matches the server" in caught.value.message


def test_a_ca_file_that_is_not_pem_is_refused_before_connecting(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")

    with pytest.raises(InvalidInput, match=f"the CA file {ca} is not a PEM certificate"):
        GrpcTransport("localhost:1", ca_file=ca)


def _ed25519_pair(tls: TlsFiles, directory: Path) -> TlsFiles:
    """What `openssl req -newkey ed25519` makes: gRPC's TLS cannot serve with it."""
    other = directory / "ed25519"
    other.mkdir()
    return _self_signed(other, ed25519.Ed25519PrivateKey.generate())


def _garbage_cert(tls: TlsFiles, directory: Path) -> TlsFiles:
    tls.cert.write_text("not a certificate\n")
    return tls


def _garbage_key(tls: TlsFiles, directory: Path) -> TlsFiles:
    tls.key.write_text("not a key\n")
    return tls


def _someone_elses_key(tls: TlsFiles, directory: Path) -> TlsFiles:
    other = directory / "other"
    other.mkdir()
    return TlsFiles(cert=tls.cert, key=_self_signed(other).key)


@pytest.mark.parametrize(
    ("spoil", "says"),
    [
        pytest.param(_garbage_cert, "is not a PEM certificate chain", id="cert-not-pem"),
        pytest.param(_garbage_key, "is not an unencrypted PEM private key", id="key-not-pem"),
        pytest.param(_someone_elses_key, "does not belong to the certificate", id="mismatch"),
        pytest.param(_ed25519_pair, "holds an Ed25519 key, which gRPC", id="ed25519"),
    ],
)
def test_tls_files_that_cannot_serve_are_refused_naming_the_file(
    wallet: Wallet,
    tmp_path: Path,
    spoil: Callable[[TlsFiles, Path], TlsFiles],
    says: str,
) -> None:
    tls = spoil(_self_signed(tmp_path), tmp_path)

    with pytest.raises(InvalidInput, match=says):
        start_server(wallet.engine, "localhost:0", tls=tls)
