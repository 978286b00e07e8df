"""GrpcTransport: sends signed envelopes to a CPay server (the RemoteEngine's wire).

Errors come back as the same CPayError classes the engine raises in-process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from cpay_engine.errors import InvalidInput, quoted
from cpay_engine.rpc.errors import from_rpc_error

R = TypeVar("R", bound=Message)

DEFAULT_TIMEOUT_S = 10.0
# Calls whose work grows with the ledger: `cpay verify` reads all of it (about 25,000
# transactions took over 10 s on PostgreSQL here).
LONG_CALLS_S = {"/cpay.v1.CPayService/VerifyLedger": 600.0}


_TARGET = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9._-]*):([0-9]{1,5})")


def parse_target(text: str, *, allow_any_port: bool = False) -> str:
    """HOST:PORT (an IPv6 host in brackets); a server may listen on port 0 (any free
    port), a client may not. A URL, a path or a space is refused here, not by the first
    call as an unreachable "misformatted domain name"."""
    found = _TARGET.fullmatch(text)
    lowest = 0 if allow_any_port else 1
    if found is None or not lowest <= int(found.group(1)) < 65536:
        raise InvalidInput(
            f"{quoted(text)} is not a server address: use HOST:PORT without a scheme, e.g. "
            "localhost:50051, 10.0.0.5:50051 or [::1]:50051"
        )
    return text


class GrpcTransport:
    def __init__(
        self, target: str, *, ca_file: Path | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.target = parse_target(target)
        self.timeout_s = timeout_s
        self._roots: bytes | None = None
        if ca_file is not None:
            self._roots = read_ca_file(ca_file)
        self._channel = self._open()
        self._stubs: dict[str, Any] = {}

    def _open(self) -> grpc.Channel:
        options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
        if self._roots is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=self._roots)
            return grpc.secure_channel(self.target, credentials, options=options)
        return grpc.insecure_channel(self.target, options=options)

    def _reconnect(self) -> None:
        """A fresh channel, so a retry does not wait out the old one's reconnect backoff."""
        self._channel.close()
        self._channel = self._open()
        self._stubs.clear()

    def call(self, method: str, request: Message, response_type: type[R]) -> R:
        stub = self._stubs.get(method)
        if stub is None:
            stub = self._channel.unary_unary(
                method,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=response_type.FromString,
            )
            self._stubs[method] = stub
        try:
            response = stub(request, timeout=LONG_CALLS_S.get(method, self.timeout_s))
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                self._reconnect()
            raise from_rpc_error(error, self.target) from None
        assert isinstance(response, response_type)
        return response

    def close(self) -> None:
        self._channel.close()


def read_ca_file(path: Path) -> bytes:
    """The PEM certificates a client trusts for a TLS server, checked: with anything else
    gRPC would only fail every call with "Failed to create security handshaker"."""
    from cryptography import x509

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the CA file {path}: {exc}") from None
    try:
        x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidInput(
            f"the CA file {path} is not a PEM certificate: give the server's CA certificate"
        ) from None
    return data
