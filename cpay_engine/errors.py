"""Every failure a front end can see, as one exception tree with stable codes.

Front ends never see sqlite3, psycopg or grpc errors: adapters translate them at
one boundary into these classes. The gRPC server packs `code` and `details` into
google.rpc.ErrorInfo and the client raises the same class again.

    CPayError
    ├── InvalidInput            invalid_input           bad amount, currency, handle, query …
    ├── Cancelled               cancelled               the user said no, or no TTY to ask
    ├── Unauthenticated         unauthenticated         bad/unknown/revoked key, stale, replay
    ├── PermissionDenied        permission_denied       role or scope missing
    ├── NotFound                not_found               also: someone else's object
    ├── FailedPrecondition      failed_precondition
    │   ├── InsufficientFunds   insufficient_funds
    │   └── AlreadyInitialized  already_initialized
    ├── IdempotencyConflict     idempotency_conflict    same id, different content
    ├── RateLimited             rate_limited
    ├── OutcomeUnknown          outcome_unknown         sent, but no answer in time
    ├── Unavailable             unavailable             could not reach the engine; nothing sent
    └── InternalError           internal                a bug or a broken store; never a guess
"""

from __future__ import annotations

from collections.abc import Mapping

ECHO_CHARS = 64

# Unauthenticated's details["reason"] where a client must tell the two apart: a key the
# engine never registered, and one it registered and later revoked (see the CLI's
# settling of keys it sent without hearing back).
UNKNOWN_KEY = "unknown_key"
KEY_REVOKED = "key_revoked"


def quoted(text: str, limit: int = ECHO_CHARS) -> str:
    """`text` as a message repeats what a client sent: quoted, and cut to `limit`
    characters. A message must not grow with its input: over gRPC it travels in the
    response's headers, which clients refuse past a few KiB."""
    if len(text) <= limit:
        return f"'{text}'"
    return f"'{text[:limit]}…' ({len(text)} characters)"


class CPayError(Exception):
    """Base class. `message` says what happened and what to do next."""

    code = "internal"

    def __init__(self, message: str, *, details: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, str] = dict(details or {})

    def __str__(self) -> str:
        return self.message


class InvalidInput(CPayError):
    code = "invalid_input"


class Cancelled(CPayError):
    code = "cancelled"


class Unauthenticated(CPayError):
    code = "unauthenticated"


class PermissionDenied(CPayError):
    code = "permission_denied"


class NotFound(CPayError):
    code = "not_found"


class FailedPrecondition(CPayError):
    code = "failed_precondition"


class InsufficientFunds(FailedPrecondition):
    code = "insufficient_funds"


class AlreadyInitialized(FailedPrecondition):
    code = "already_initialized"


class IdempotencyConflict(CPayError):
    code = "idempotency_conflict"


class RateLimited(CPayError):
    code = "rate_limited"


class OutcomeUnknown(CPayError):
    code = "outcome_unknown"


class Unavailable(CPayError):
    code = "unavailable"


class InternalError(CPayError):
    code = "internal"


ERROR_CLASSES: dict[str, type[CPayError]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        Cancelled,
        Unauthenticated,
        PermissionDenied,
        NotFound,
        FailedPrecondition,
        InsufficientFunds,
        AlreadyInitialized,
        IdempotencyConflict,
        RateLimited,
        OutcomeUnknown,
        Unavailable,
        InternalError,
    )
}


def error_from_code(code: str, message: str, details: Mapping[str, str] | None = None) -> CPayError:
    """Rebuild the error class a peer raised (unknown codes become InternalError)."""
    return ERROR_CLASSES.get(code, InternalError)(message, details=details)
