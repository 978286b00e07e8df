"""PaymentsAPI: the one interface the CLI and the TUI know.

Implemented by `cpay_engine.client.SignedClient` over a transport: in-process
(LocalEngine, embedded SQLite) or gRPC (RemoteEngine). Every method signs its
request with the device key. Errors raised: subclasses of `cpay_engine.errors.CPayError`
only — InvalidInput, Unauthenticated, PermissionDenied, NotFound, InsufficientFunds,
IdempotencyConflict, RateLimited, OutcomeUnknown, Unavailable, InternalError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from cpay_engine.domain.model import Direction, Role, TxKind, TxStatus
from cpay_engine.domain.query import HistoryFilter

if TYPE_CHECKING:
    from cpay_engine.adapters.crypto import SigningKey


@dataclass(frozen=True, slots=True)
class PostingView:
    account: str
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class ReceiptView:
    key_id: str
    payload: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class TransactionView:
    id: str
    seq: int
    kind: TxKind
    status: TxStatus
    created_at_ms: int
    from_handle: str
    to_handle: str
    amount_minor: int
    currency: str
    memo: str
    direction: Direction | None  # the viewer's; None: not a party (an admin's or auditor's look)
    counterparty: str
    failure_code: str = ""
    failure_message: str = ""
    postings: tuple[PostingView, ...] = ()
    receipt: ReceiptView | None = None


@dataclass(frozen=True, slots=True)
class PaymentResult:
    transaction: TransactionView
    replayed: bool


@dataclass(frozen=True, slots=True)
class HistoryPage:
    transactions: tuple[TransactionView, ...]
    next_cursor: str
    sync_cursor: str
    after_id: str | None = None  # on syncs: the id at the cursor's seq ("" if none)


@dataclass(frozen=True, slots=True)
class BalanceView:
    currency: str
    available_minor: int
    pending_minor: int = 0


@dataclass(frozen=True, slots=True)
class EngineKeyView:
    key_id: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class AccountView:
    user_id: str
    handle: str
    role: Role
    key_id: str
    engine_keys: tuple[EngineKeyView, ...] = ()


@dataclass(frozen=True, slots=True)
class UserView:
    user_id: str
    handle: str
    role: Role
    key_id: str


@dataclass(frozen=True, slots=True)
class InviteView:
    code: str
    role: Role
    expires_at_ms: int
    for_handle: str = ""  # set: the invite adds a device for this existing user


@dataclass(frozen=True, slots=True)
class EnrollmentView:
    user: UserView
    engine_keys: tuple[EngineKeyView, ...]


@dataclass(frozen=True, slots=True)
class UserListing:
    user_id: str
    handle: str
    role: Role
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class KeyView:
    key_id: str
    public_key: bytes
    created_at_ms: int
    revoked_at_ms: int = 0

    @property
    def revoked(self) -> bool:
        return self.revoked_at_ms != 0


@dataclass(frozen=True, slots=True)
class RotationResult:
    new_key: KeyView
    revoked_key_id: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    scope: str
    transactions_checked: int
    accounts_checked: int
    receipts_checked: int
    audit_entries_checked: int
    problems: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


class PaymentsAPI(Protocol):
    """What a front end can ask of the engine, as the device's signed-in user."""

    @property
    def key_id(self) -> str: ...

    def account(self) -> AccountView: ...

    def balances(self, currency: str = "") -> list[BalanceView]: ...

    def pay(
        self, *, payment_id: str, recipient: str, amount_minor: int, currency: str, memo: str = ""
    ) -> PaymentResult: ...

    def history(
        self,
        *,
        limit: int = 50,
        before_cursor: str = "",
        after_cursor: str = "",
        filter: HistoryFilter | None = None,
        include_details: bool = False,
    ) -> HistoryPage: ...

    def transaction(self, tx_id: str) -> TransactionView: ...

    def mint(
        self, *, payment_id: str, recipient: str, amount_minor: int, currency: str, memo: str = ""
    ) -> PaymentResult: ...

    def create_user(self, *, handle: str, role: Role, public_key: bytes) -> UserView: ...

    def list_keys(self) -> list[KeyView]: ...

    def rotate_key(self, new_key: SigningKey) -> RotationResult: ...

    def revoke_key(self, key_id: str) -> KeyView: ...

    def verify_ledger(self) -> VerifyReport: ...

    def create_invite(
        self, *, role: Role | None, ttl_seconds: int = 0, for_handle: str = ""
    ) -> InviteView: ...

    def enroll(self, *, invite_code: str, handle: str) -> EnrollmentView: ...

    def list_users(self) -> list[UserListing]: ...

    def close(self) -> None: ...
