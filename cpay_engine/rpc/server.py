"""The gRPC server: a thin adapter over the same Engine the CLI uses in local mode.

Sync grpc.server on a thread pool (see docs/benchmarks.md for why): each RPC hands
its request to Engine.dispatch, which verifies the envelope and runs the use case;
CPayError becomes status + google.rpc.ErrorInfo. Health checking is always on;
reflection only when asked. `serve` stops gracefully on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from cpay_engine.errors import CPayError, InvalidInput
from cpay_engine.rpc.errors import to_status
from cpay_engine.service.engine import METHODS, SERVICE, Engine
from cpay_engine.wire import cpay_pb2

log = logging.getLogger("cpay.server")

MAX_MESSAGE_BYTES = 256 * 1024
# After the grace period, how long stop() still waits for calls running in the engine.
STRAGGLER_WAIT_S = 2.0


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


class _Malformed:
    """Request bytes that are not the method's message. gRPC would answer a deserializer
    that raises with INTERNAL ("Exception deserializing request!") and log a traceback;
    this is the client's mistake, so the handler answers INVALID_ARGUMENT instead."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _parser(message_type: type[Message]) -> Callable[[bytes], Message | _Malformed]:
    def parse(data: bytes) -> Message | _Malformed:
        try:
            return message_type.FromString(data)
        except DecodeError as exc:
            return _Malformed(str(exc) or "not a protobuf message")

    return parse


def _behaviour(
    engine: Engine, method: str, request_type: type[Message]
) -> Callable[[Message | _Malformed, grpc.ServicerContext], Message]:
    def handle(request: Message | _Malformed, context: grpc.ServicerContext) -> Message:
        try:
            if isinstance(request, _Malformed):
                name = request_type.DESCRIPTOR.full_name
                raise InvalidInput(
                    f"the request is not a valid {name} message ({request.reason}): send "
                    f"{name} as proto/cpay/v1/cpay.proto defines it"
                )
            return engine.dispatch(method, request)
        except CPayError as error:
            context.abort_with_status(to_status(error))
            raise  # abort_with_status raises; this keeps type checkers honest

    return handle


def service_handler(engine: Engine) -> grpc.GenericRpcHandler:
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for name, spec in METHODS.items():
        handlers[spec.rpc] = grpc.unary_unary_rpc_method_handler(
            _behaviour(engine, name, spec.request_type),
            request_deserializer=_parser(spec.request_type),
            response_serializer=lambda m: m.SerializeToString(),
        )
    handler: grpc.GenericRpcHandler = grpc.method_handlers_generic_handler(SERVICE, handlers)
    return handler


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    executor: futures.ThreadPoolExecutor

    def stop(self, grace_s: float = 10.0) -> int:
        """Stop accepting, let in-flight calls finish (up to grace_s), then return how
        many are still running in the engine: grpc has cancelled them for their clients,
        but their threads go on, so the engine must stay open while any does."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace_s).wait()
        self.executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + STRAGGLER_WAIT_S
        threads = list(self.executor._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sum(thread.is_alive() for thread in threads)


def start_server(
    engine: Engine,
    listen: str,
    *,
    tls: TlsFiles | None = None,
    reflection: bool = False,
    max_workers: int = 16,
    extra_handlers: Sequence[grpc.GenericRpcHandler] = (),
) -> RunningServer:
    """Start serving; `listen` is HOST:PORT (port 0 picks a free one, returned)."""
    executor = futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="cpay-rpc")
    server = grpc.server(
        executor,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.so_reuseport", 0),
        ],
    )
    server.add_generic_rpc_handlers((service_handler(engine), *extra_handlers))
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    services = [SERVICE, health.SERVICE_NAME]
    if reflection:
        from grpc_reflection.v1alpha import reflection as grpc_reflection

        services.append(grpc_reflection.SERVICE_NAME)
        grpc_reflection.enable_server_reflection(services, server)
    if tls is not None:
        try:
            key_pem, cert_pem = tls.key.read_bytes(), tls.cert.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read the TLS files: {exc}") from None
        _check_tls_pair(tls, key_pem, cert_pem)
        credentials = grpc.ssl_server_credentials([(key_pem, cert_pem)])
    try:  # older grpcio returns 0 when it cannot bind, newer raises RuntimeError
        if tls is not None:
            port = server.add_secure_port(listen, credentials)
        else:
            port = server.add_insecure_port(listen)
    except RuntimeError:
        port = 0
    if port == 0:
        server.stop(None)
        raise InvalidInput(
            f"cannot listen on {listen}: the port is in use or the address is not one of "
            "this machine's; choose another --listen"
        )
    server.start()
    for name in ("", SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    assert cpay_pb2.DESCRIPTOR.services_by_name["CPayService"].full_name == SERVICE
    return RunningServer(server, port, health_servicer, executor)


def _check_tls_pair(tls: TlsFiles, key_pem: bytes, cert_pem: bytes) -> None:
    """gRPC would only log "Invalid cert chain file" and fail to bind; say which file is
    wrong instead. The key must be unencrypted PEM and belong to the first certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        raise InvalidInput(f"--tls-cert {tls.cert} is not a PEM certificate chain") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (TypeError, ValueError):
        raise InvalidInput(f"--tls-key {tls.key} is not an unencrypted PEM private key") from None
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        # gRPC's TLS offers clients no signature scheme for Ed25519/Ed448 certificates:
        # every handshake would fail with NO_COMMON_SIGNATURE_ALGORITHMS.
        raise InvalidInput(
            f"--tls-key {tls.key} holds an {type(key).__name__.removesuffix('PrivateKey')} key, "
            "which gRPC's TLS cannot use: make the certificate with an ECDSA (P-256) or RSA "
            "key, e.g. openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 …"
        )
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != chain[0].public_key().public_bytes(
        encoding, public
    ):
        raise InvalidInput(f"--tls-key {tls.key} does not belong to the certificate in {tls.cert}")


def serve_until_signalled(
    running: RunningServer, on_stop: Callable[[], Any] | None = None, *, grace_s: float = 10.0
) -> int:
    """Block until SIGTERM/SIGINT, then shut down gracefully; returns how many calls
    were still running in the engine after the grace period (RunningServer.stop)."""
    stop = threading.Event()

    def _signalled(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signum)
        stop.set()

    previous = {s: signal.signal(s, _signalled) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop.wait()
        stragglers = running.stop(grace_s)
        if on_stop is not None:
            on_stop()
        return stragglers
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
