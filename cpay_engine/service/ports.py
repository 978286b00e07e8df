"""What the service layer needs from storage: records and a unit of work.

A unit of work is one database transaction; it rolls back unless the block exits
cleanly. Stores translate their driver errors into CPayError here, at the boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar

from cpay_engine.domain.model import Direction, Role, TxKind, TxStatus
from cpay_engine.domain.query import HistoryFilter

T = TypeVar("T")


class TransientStoreError(Exception):
    """A conflict the database resolved by aborting us (serialization failure, deadlock).

    Never reaches a front end: the engine retries the whole unit of work."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    handle: str
    role: Role
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str
    user_id: str
    public_key: bytes
    created_at_ms: int
    revoked_at_ms: int | None


@dataclass(frozen=True, slots=True)
class InviteRecord:
    code_hash: str
    role: Role
    created_by: str
    created_at_ms: int
    expires_at_ms: int
    used_at_ms: int | None
    for_user_id: str | None = None  # set: adds a device key to this user


@dataclass(frozen=True, slots=True)
class AccountRecord:
    id: int
    name: str
    user_id: str | None
    currency: str
    balance_minor: int
    may_go_negative: bool


class PostingRecord(NamedTuple):
    """A tuple, so that the postings a payment has just written, (account, amount,
    currency), go into its answer as they are."""

    account: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    key_id: str
    payload: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class TxRecord:
    seq: int
    id: str
    kind: TxKind
    status: TxStatus
    created_at_ms: int
    initiator_id: str
    from_user_id: str | None
    to_user_id: str | None
    from_handle: str
    to_handle: str
    amount_minor: int
    currency: str
    memo: str
    failure_code: str
    failure_message: str
    # Set when read through a party's history (relative to that user).
    direction: Direction | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at_ms: int
    actor: str
    action: str
    details: str


@dataclass(frozen=True, slots=True)
class NewTransaction:
    id: str
    kind: TxKind
    status: TxStatus
    created_at_ms: int
    initiator_id: str
    from_user_id: str | None
    to_user_id: str | None
    from_handle: str
    to_handle: str
    amount_minor: int
    currency: str
    memo: str
    failure_code: str = ""
    failure_message: str = ""


class UnitOfWork(Protocol):
    # requests
    def claim_payment_id(self, payment_id: str) -> TxRecord | None: ...
    def record_nonce(
        self,
        key_id: str,
        nonce: bytes,
        expires_at_ms: int,
        now_ms: int,
        *,
        key_must_be_live: bool = False,
    ) -> bool:
        """True if recorded; False for a nonce already spent or, with `key_must_be_live`,
        for a key that is revoked or unknown (then nothing is recorded)."""

    # users and keys
    def user_count(self) -> int: ...
    def get_user(self, user_id: str) -> UserRecord | None: ...
    def get_user_by_handle(self, handle: str) -> UserRecord | None: ...
    def insert_user(self, user: UserRecord) -> None: ...
    def get_key(self, key_id: str) -> KeyRecord | None: ...
    def get_key_and_owner(self, key_id: str) -> tuple[KeyRecord | None, UserRecord | None]: ...
    def insert_key(self, key: KeyRecord) -> None: ...
    def list_keys(self, user_id: str) -> list[KeyRecord]: ...
    def revoke_key(self, key_id: str, at_ms: int) -> None: ...
    def engine_keys(self) -> list[tuple[str, bytes]]: ...
    def insert_engine_key(self, key_id: str, public_key: bytes, at_ms: int) -> None: ...
    def list_users(self) -> list[UserRecord]: ...
    def insert_invite(self, invite: InviteRecord) -> None: ...
    def get_invite(self, code_hash: str) -> InviteRecord | None: ...
    def use_invite(self, code_hash: str, user_id: str, at_ms: int) -> bool: ...
    def get_meta(self, key: str) -> str | None: ...
    def set_meta(self, key: str, value: str) -> None: ...

    # ledger
    def account(
        self, user_id: str | None, currency: str, *, create: bool
    ) -> AccountRecord | None: ...
    def payment_accounts(
        self, payer_id: str, payee_id: str, currency: str
    ) -> tuple[AccountRecord | None, AccountRecord]:
        """The payer's account (None if it has none) and the payee's (created if missing)."""
        ...

    def system_account(self, name: str, currency: str, may_go_negative: bool) -> AccountRecord: ...
    def user_accounts(self, user_id: str) -> list[AccountRecord]: ...
    def move(self, debit: AccountRecord, credit: AccountRecord, amount_minor: int) -> bool: ...
    def record_transaction(
        self,
        tx: NewTransaction,
        postings: Sequence[tuple[int, int, str]],
        receipt: ReceiptRecord | None,
        parties: Sequence[tuple[str, Direction]],
        audit: AuditEntry,
    ) -> int:
        """Insert `tx` with its postings (account id, amount, currency), its receipt's key
        id and signature (the payload is rebuilt from the row on read) and parties, and
        append `audit` to the audit chain. Returns the transaction's seq."""
        ...

    def find_transaction(self, tx_id: str) -> TxRecord | None: ...
    def find_own_transactions_by_prefix(
        self, user_id: str, prefix: str, limit: int
    ) -> list[TxRecord]:
        """`user_id`'s transactions whose id starts with `prefix`, newest first, with the
        user's direction."""

    def party_direction(self, user_id: str, seq: int) -> Direction | None: ...
    def party_tx_id(self, user_id: str, seq: int) -> str: ...
    def postings(self, seq: int) -> list[PostingRecord]: ...
    def receipt_signature(self, seq: int) -> tuple[str, bytes] | None:
        """The engine key id and signature of transaction `seq`'s receipt, if it has one."""

    def history(
        self,
        user_id: str,
        f: HistoryFilter,
        before_seq: int,
        after_seq: int,
        limit: int,
        ascending: bool = False,
    ) -> list[TxRecord]: ...

    # audit
    def append_audit(self, at_ms: int, actor: str, action: str, details: str) -> None: ...

    # verification (full scans)
    def iter_transactions(self, user_id: str | None) -> Iterator[TxRecord]: ...
    def all_accounts(self) -> list[AccountRecord]: ...
    def posting_sums(self) -> dict[int, int]: ...
    def unbalanced_transactions(self) -> list[str]: ...
    def transactions_naming_unknown_users(self) -> list[str]: ...
    def iter_audit(self) -> Iterator[tuple[int, int, str, str, str, str, str]]: ...


class Store(Protocol):
    def write(self, work: Callable[[UnitOfWork], T]) -> T:
        """Run `work` in a unit of work and return what it returns once that is durable.
        If `work` raises, none of its writes happen and the exception reaches the caller.
        A store may commit several callers' work together (group commit)."""
        ...

    def reader(self) -> AbstractContextManager[UnitOfWork]:
        """Reads outside any write lock; each statement sees a committed state of its own."""
        ...

    def snapshot(self) -> AbstractContextManager[UnitOfWork]:
        """Reads outside any write lock that all see one committed state, however many
        statements they take (writers go on committing meanwhile): `cpay verify`."""
        ...

    def close(self) -> None: ...
