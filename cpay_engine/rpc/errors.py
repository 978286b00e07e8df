"""CPayError <-> gRPC status, in one place.

The server packs the error code into google.rpc.ErrorInfo (domain "cpay.dev",
reason = the CPay code, metadata = details) inside a google.rpc.Status; the client
raises the same class again. Transport failures without ErrorInfo are translated
from the bare status code.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from cpay_engine.errors import (
    CPayError,
    InternalError,
    OutcomeUnknown,
    RateLimited,
    Unauthenticated,
    Unavailable,
    error_from_code,
)

ERROR_DOMAIN = "cpay.dev"
# The status travels in the response's headers, its message twice (grpc-message and inside
# grpc-status-details-bin): clients refuse headers past 8-16 KiB, and then see
# RESOURCE_EXHAUSTED instead of the error. Messages cut their echoes short (errors.quoted);
# these caps hold for any message or detail that does not.
MAX_MESSAGE_CHARS = 1024
MAX_DETAIL_CHARS = 256

STATUS_BY_CODE: dict[str, grpc.StatusCode] = {
    "invalid_input": grpc.StatusCode.INVALID_ARGUMENT,
    "cancelled": grpc.StatusCode.CANCELLED,
    "unauthenticated": grpc.StatusCode.UNAUTHENTICATED,
    "permission_denied": grpc.StatusCode.PERMISSION_DENIED,
    "not_found": grpc.StatusCode.NOT_FOUND,
    "failed_precondition": grpc.StatusCode.FAILED_PRECONDITION,
    "insufficient_funds": grpc.StatusCode.FAILED_PRECONDITION,
    "already_initialized": grpc.StatusCode.FAILED_PRECONDITION,
    "idempotency_conflict": grpc.StatusCode.ALREADY_EXISTS,
    "rate_limited": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "outcome_unknown": grpc.StatusCode.DEADLINE_EXCEEDED,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "internal": grpc.StatusCode.INTERNAL,
}


def to_status(error: CPayError) -> grpc.Status:
    code = STATUS_BY_CODE.get(error.code, grpc.StatusCode.INTERNAL)
    metadata = {key: _cut(value, MAX_DETAIL_CHARS) for key, value in error.details.items()}
    info = error_details_pb2.ErrorInfo(reason=error.code, domain=ERROR_DOMAIN, metadata=metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    message = _cut(error.message, MAX_MESSAGE_CHARS)
    status: grpc.Status = rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=message, details=[detail])
    )
    return status


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# gRPC fails a call with UNAVAILABLE and these details when the channel never reached a
# server (connection refused, no route, unresolvable name): the call was not sent. Any
# other UNAVAILABLE (a connection lost mid-call) may come after the server acted on it.
NEVER_CONNECTED = (
    "failed to connect to all addresses",
    "DNS resolution failed",
    "errors resolving",
)


# ...and these in its details when the connection failed at the TLS handshake (or a TLS
# server closed a plaintext connection).
TLS_MISMATCH = ("handshake", "Socket closed")


def from_rpc_error(error: grpc.RpcError, target: str) -> CPayError:
    """Rebuild the CPayError the server raised, or translate a transport failure."""
    try:
        status = rpc_status.from_call(error)
    except ValueError:  # details that contradict the status: a proxy's, or cut in transit
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                if info.domain == ERROR_DOMAIN:
                    return error_from_code(info.reason, status.message, dict(info.metadata))
    code = error.code()
    text = error.details() or str(code)
    if code == grpc.StatusCode.UNAVAILABLE and text.startswith(NEVER_CONNECTED):
        check = "that the server is running and the address is right"
        if any(sign in text for sign in TLS_MISMATCH):
            check = (
                "that TLS matches the server: a TLS server needs --ca with the CA that signed "
                "its certificate, a plaintext one no --ca"
            )
        return Unavailable(
            f"cannot reach the CPay server at {target} ({text}); nothing was sent: check {check}"
        )
    if code == grpc.StatusCode.UNAVAILABLE:
        return Unavailable(
            f"cannot reach the CPay server at {target} ({text})", details={"maybe_sent": "1"}
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return OutcomeUnknown(f"the server at {target} did not answer in time")
    if code == grpc.StatusCode.ABORTED:
        return Unavailable(f"the server aborted the call ({text})", details={"maybe_sent": "1"})
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return RateLimited(f"the server is busy ({text}): wait and try again")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Unauthenticated(text)
    return InternalError(f"the server at {target} failed ({code.name}: {text})")
