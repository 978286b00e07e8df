"""GrpcTransport: sends signed envelopes to a CPay server (the RemoteEngine's wire).

Errors come back as the same CPayError classes the engine raises in-process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from cpay_engine.errors import InvalidInput
from cpay_engine.rpc.errors import from_rpc_error

R = TypeVar("R", bound=Message)

DEFAULT_TIMEOUT_S = 10.0


def parse_target(text: str) -> str:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInput(f"'{text}' is not a server address: use HOST:PORT, e.g. localhost:50051")
    return text


class GrpcTransport:
    def __init__(
        self, target: str, *, ca_file: Path | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.target = parse_target(target)
        self.timeout_s = timeout_s
        options = [("grpc.max_receive_message_length", 16 * 1024 * 1024)]
        if ca_file is not None:
            try:
                roots = ca_file.read_bytes()
            except OSError as exc:
                raise InvalidInput(f"cannot read the CA file {ca_file}: {exc}") from None
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stubs: dict[str, Any] = {}

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
            response = stub(request, timeout=self.timeout_s)
        except grpc.RpcError as error:
            raise from_rpc_error(error, self.target) from None
        assert isinstance(response, response_type)
        return response

    def close(self) -> None:
        self._channel.close()
