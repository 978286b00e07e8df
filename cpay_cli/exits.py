"""Exit codes, mapped in one place (README 'Exit codes'; DESIGN.md errors table)."""

from __future__ import annotations

from cpay_engine.errors import CPayError

OK = 0
FAILURE = 1
INVALID_INPUT = 2
CANCELLED = 3
AUTH = 4
PARTIAL = 5
OUTCOME_UNKNOWN = 9
INTERRUPTED = 130
BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left

_BY_CODE = {
    "invalid_input": INVALID_INPUT,
    "cancelled": CANCELLED,
    "unauthenticated": AUTH,
    "permission_denied": AUTH,
    "not_found": FAILURE,
    "failed_precondition": FAILURE,
    "insufficient_funds": FAILURE,
    "already_initialized": FAILURE,
    "idempotency_conflict": FAILURE,
    "rate_limited": FAILURE,
    "unavailable": FAILURE,
    "outcome_unknown": OUTCOME_UNKNOWN,
    "internal": FAILURE,
}


def exit_code(error: CPayError) -> int:
    return _BY_CODE.get(error.code, FAILURE)
