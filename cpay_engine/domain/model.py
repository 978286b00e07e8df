"""Names and states of the domain: roles, transaction states, handles, payment ids."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TypeVar

from cpay_engine.errors import InvalidInput, quoted

T = TypeVar("T")


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"
    AUDITOR = "auditor"


class TxStatus(StrEnum):
    """pending -> completed | failed; unknown while a provider has not answered."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    UNKNOWN = "unknown"


class TxKind(StrEnum):
    PAYMENT = "payment"
    MINT = "mint"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


_HANDLE_RE = re.compile(r"\A[a-z][a-z0-9_]{1,31}\Z", re.ASCII)
_PAYMENT_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{7,63}\Z", re.ASCII)
MAX_MEMO_CHARS = 280

TREASURY_HANDLE = "treasury"


def parse_handle(text: str) -> str:
    """'@Alice' or 'alice' -> 'alice'. Lower-case letters, digits, '_'; 2-32 chars."""
    raw = text[1:] if text.startswith("@") else text
    handle = raw.lower()
    if not _HANDLE_RE.match(handle):
        raise InvalidInput(
            f"{quoted(text)} is not a handle: use 2-32 letters, digits or '_', starting with "
            "a letter (for example @alice)"
        )
    if handle == TREASURY_HANDLE:
        raise InvalidInput(f"{quoted(text)} is reserved for the system")
    return handle


def check_payee(payer_handle: str, payee_handle: str) -> None:
    """The engine's rule, which a front end may check early with the same words."""
    if payer_handle == payee_handle:
        raise InvalidInput("you cannot pay yourself: choose another recipient")


def role_refusal(action: str, allowed: Iterable[Role], handle: str, role: Role) -> str:
    """What a caller whose role may not do `action` is told: in words, not an RPC name."""
    needed = " or ".join(sorted(r.value for r in allowed))
    article = "an" if role in (Role.ADMIN, Role.AUDITOR) else "a"
    return f"{action} needs the {needed} role; @{handle} is {article} {role.value}"


def parse_payment_id(text: str) -> str:
    if not _PAYMENT_ID_RE.match(text):
        raise InvalidInput(
            f"{quoted(text)} is not a payment id: use 8-64 characters from letters, digits "
            "and . _ : - (a UUID works)"
        )
    return text


def check_memo(memo: str) -> str:
    if len(memo) > MAX_MEMO_CHARS:
        raise InvalidInput(f"the memo is {len(memo)} characters; the limit is {MAX_MEMO_CHARS}")
    if "\x00" in memo:
        raise InvalidInput("the memo contains a NUL character; remove it")
    return memo


def parse_role(text: str) -> Role:
    try:
        return Role(text.lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput(f"{quoted(text)} is not a role: choose one of {choices}") from None


# --- short ids -----------------------------------------------------------------------------

# `cpay show 8290134f`: a transaction may be named by the start of its id (one of the
# caller's own, and only one), this long at least.
MIN_ID_PREFIX = 4


def the_one_starting_with(prefix: str, found: Sequence[T]) -> T | None:
    """Of the transactions whose id starts with `prefix` (look up two: one is enough to
    tell), the one it names; None if none. Several: InvalidInput asking for more."""
    if len(found) > 1:
        raise InvalidInput(
            f"more than one of your transactions has an id starting with {prefix}: "
            "give more of the id"
        )
    return found[0] if found else None
