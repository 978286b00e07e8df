"""SignedClient: the PaymentsAPI implementation every front end uses.

It serializes each request body, signs it with the device key (docs/protocol.md)
and hands the envelope to a Transport: in-process (LocalEngine) or gRPC
(RemoteEngine). Answers come back as protobuf and are turned into api dataclasses
here, once, so both transports give the same objects.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from google.protobuf.message import Message

from cpay_engine.adapters.crypto import SigningKey, verify_signature
from cpay_engine.api import (
    AccountView,
    BalanceView,
    EngineKeyView,
    EnrollmentView,
    HistoryPage,
    InviteView,
    KeyView,
    PaymentResult,
    PostingView,
    ReceiptView,
    RotationResult,
    TransactionView,
    UserListing,
    UserView,
    VerifyReport,
)
from cpay_engine.domain.model import Role, TxKind, TxStatus
from cpay_engine.domain.query import HistoryFilter
from cpay_engine.domain.receipts import expected_fields, receipt_mismatches
from cpay_engine.domain.signing import key_proof_input, receipt_input, signing_input
from cpay_engine.errors import KEY_REVOKED, CPayError, OutcomeUnknown, RateLimited, Unavailable
from cpay_engine.service.engine import Engine, method_name
from cpay_engine.service.views import (
    DIRECTION_TO_PB,
    PB_TO_DIRECTION,
    PB_TO_KIND,
    PB_TO_ROLE,
    PB_TO_STATUS,
    ROLE_TO_PB,
    STATUS_TO_PB,
)
from cpay_engine.wire import cpay_pb2 as pb

R = TypeVar("R", bound=Message)


class Transport(Protocol):
    def call(self, method: str, request: Message, response_type: type[R]) -> R: ...

    def close(self) -> None: ...


class InProcessTransport:
    """Hands envelopes straight to an Engine in this process (local mode)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def call(self, method: str, request: Message, response_type: type[R]) -> R:
        response = self.engine.dispatch(method, request)
        assert isinstance(response, response_type)
        return response

    def close(self) -> None:
        self.engine.close()


def _ms() -> int:
    return time.time_ns() // 1_000_000


# RPCs that change state: an answer lost after sending makes their outcome unknown.
STATE_CHANGING = frozenset(
    {
        "ProcessPayment",
        "MintDabloons",
        "CreateUser",
        "RotateKey",
        "RevokeKey",
        "CreateInvite",
        "Enroll",
    }
)


@dataclass(frozen=True)
class RetryPolicy:
    """Retry only what is safe (unavailable, rate limited, aborted): same body and payment
    id, a fresh signature and nonce each time, full-jitter exponential backoff."""

    attempts: int = 1
    base_delay_s: float = 0.2
    max_delay_s: float = 2.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


class SignedClient:
    def __init__(
        self,
        transport: Transport,
        key: SigningKey,
        *,
        clock: Callable[[], int] = _ms,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rekey: Callable[[], SigningKey | None] | None = None,
    ) -> None:
        """`rekey`, if given, says which key this device signs with now: a long-running
        front end (the dashboard) whose key another command rotated goes on with the new
        one instead of failing every request as revoked."""
        self.transport = transport
        self._key = key
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rekey = rekey

    @property
    def key_id(self) -> str:
        return self._key.key_id

    def close(self) -> None:
        self.transport.close()

    def _call(
        self,
        rpc: str,
        request_type: type[Message],
        body: Message,
        response_type: type[R],
        *,
        payment_id: str = "",
    ) -> R:
        return self._send(rpc, request_type, body, response_type, payment_id=payment_id)[0]

    def _send(
        self,
        rpc: str,
        request_type: type[Message],
        body: Message,
        response_type: type[R],
        *,
        payment_id: str = "",
    ) -> tuple[R, bool]:
        """The answer, and whether an earlier attempt of this call may have arrived (so a
        "replayed" answer may be this very call's own first attempt)."""
        method = method_name(rpc)
        raw = body.SerializeToString()
        attempt = 0
        # Once one attempt may have reached the server, the outcome stays unknown whatever
        # the later attempts meet (a retry refused at connect says nothing about the first).
        sent: CPayError | None = None
        rekeyed = False
        while True:
            timestamp, nonce = self._clock(), os.urandom(16)
            signature = self._key.sign(
                signing_input(method, self._key.key_id, timestamp, nonce, raw)
            )
            request: Any = request_type()
            signed = request.signed  # filled in place: a SignedRequest passed in is copied
            signed.body = raw
            signed.key_id = self._key.key_id
            signed.timestamp_ms = timestamp
            signed.nonce = nonce
            signed.signature = signature
            try:
                return self.transport.call(method, request, response_type), sent is not None
            except (Unavailable, RateLimited) as exc:
                if sent is None and isinstance(exc, Unavailable) and exc.details.get("maybe_sent"):
                    sent = exc
                attempt += 1
                if attempt < self._retry.attempts:
                    self._sleep(self._retry.delay(attempt))
                    continue
                if sent is not None and rpc in STATE_CHANGING:
                    raise _unknown(rpc, payment_id, sent) from None
                raise
            except OutcomeUnknown as exc:
                raise _unknown(rpc, payment_id, exc) from None
            except CPayError as exc:
                # A change with no idempotency key (a key rotation, an enrollment, a new
                # user) retried after an attempt that may have arrived: this refusal may be
                # that attempt's own success ("key … was revoked", "invite already used").
                if sent is not None and not payment_id and rpc in STATE_CHANGING:
                    raise _unknown(rpc, payment_id, sent) from None
                # (Not a rotation: its body's proof of possession names the key it replaces.)
                if sent is None and not rekeyed and rpc != "RotateKey" and self._newer_key(exc):
                    rekeyed = True  # refused unrecorded: the same request, signed anew
                    continue
                raise

    def _newer_key(self, error: CPayError) -> bool:
        """After "this key was revoked": take the key this device holds now, if the front
        end can say and it is another (rotated by another command meanwhile)."""
        if self._rekey is None or error.details.get("reason") != KEY_REVOKED:
            return False
        fresh = self._rekey()
        if fresh is None or fresh.key_id == self._key.key_id:
            return False
        self._key = fresh
        return True

    # --- PaymentsAPI ---------------------------------------------------------------------

    def account(self) -> AccountView:
        r = self._call(
            "GetAccount", pb.GetAccountRequest, pb.GetAccountRequest.Body(), pb.GetAccountResponse
        )
        return AccountView(
            user_id=r.user_id,
            handle=r.handle,
            role=PB_TO_ROLE.get(r.role, Role.USER),
            key_id=r.key_id,
            engine_keys=tuple(EngineKeyView(k.key_id, k.public_key) for k in r.engine_keys),
        )

    def balances(self, currency: str = "") -> list[BalanceView]:
        body = pb.GetBalancesRequest.Body(currency=currency)
        r = self._call("GetBalances", pb.GetBalancesRequest, body, pb.GetBalancesResponse)
        return [BalanceView(b.currency, b.available_minor, b.pending_minor) for b in r.balances]

    def pay(
        self, *, payment_id: str, recipient: str, amount_minor: int, currency: str, memo: str = ""
    ) -> PaymentResult:
        body = pb.PaymentRequest.Body(
            payment_id=payment_id,
            recipient=recipient,
            amount_minor=amount_minor,
            currency=currency,
            memo=memo,
        )
        r, resent = self._send(
            "ProcessPayment", pb.PaymentRequest, body, pb.PaymentResponse, payment_id=payment_id
        )
        # A replay of this call's own lost first attempt was made by this call.
        return PaymentResult(transaction_view(r.transaction), r.replayed and not resent)

    def mint(
        self, *, payment_id: str, recipient: str, amount_minor: int, currency: str, memo: str = ""
    ) -> PaymentResult:
        body = pb.MintDabloonsRequest.Body(
            payment_id=payment_id,
            recipient=recipient,
            amount_minor=amount_minor,
            currency=currency,
            memo=memo,
        )
        r, resent = self._send(
            "MintDabloons",
            pb.MintDabloonsRequest,
            body,
            pb.MintDabloonsResponse,
            payment_id=payment_id,
        )
        return PaymentResult(transaction_view(r.transaction), r.replayed and not resent)

    def history(
        self,
        *,
        limit: int = 50,
        before_cursor: str = "",
        after_cursor: str = "",
        filter: HistoryFilter | None = None,
        include_details: bool = False,
    ) -> HistoryPage:
        body = pb.TransactionHistoryRequest.Body(
            limit=limit,
            before_cursor=before_cursor,
            after_cursor=after_cursor,
            include_details=include_details,
        )
        if filter is not None:
            body.filter.CopyFrom(filter_pb(filter))
        r = self._call(
            "GetTransactionHistory",
            pb.TransactionHistoryRequest,
            body,
            pb.TransactionHistoryResponse,
        )
        return HistoryPage(
            tuple(transaction_view(t) for t in r.transactions),
            r.next_cursor,
            r.sync_cursor,
            r.after_id if r.HasField("after_id") else None,
        )

    def transaction(self, tx_id: str) -> TransactionView:
        body = pb.GetTransactionRequest.Body(id=tx_id)
        r = self._call("GetTransaction", pb.GetTransactionRequest, body, pb.GetTransactionResponse)
        return transaction_view(r.transaction)

    def create_user(self, *, handle: str, role: Role, public_key: bytes) -> UserView:
        body = pb.CreateUserRequest.Body(
            handle=handle, role=ROLE_TO_PB[role], public_key=public_key
        )
        r = self._call("CreateUser", pb.CreateUserRequest, body, pb.CreateUserResponse)
        return UserView(r.user_id, r.handle, PB_TO_ROLE.get(r.role, Role.USER), r.key_id)

    def list_keys(self) -> list[KeyView]:
        r = self._call(
            "ListKeys", pb.ListKeysRequest, pb.ListKeysRequest.Body(), pb.ListKeysResponse
        )
        return [key_view(k) for k in r.keys]

    def rotate_key(self, new_key: SigningKey) -> RotationResult:
        proof = new_key.sign(key_proof_input(self._key.key_id, new_key.key_id))
        body = pb.RotateKeyRequest.Body(new_public_key=new_key.public_key, new_key_proof=proof)
        r = self._call("RotateKey", pb.RotateKeyRequest, body, pb.RotateKeyResponse)
        self._key = new_key
        return RotationResult(key_view(r.new_key), r.revoked_key_id)

    def revoke_key(self, key_id: str) -> KeyView:
        body = pb.RevokeKeyRequest.Body(key_id=key_id)
        r = self._call("RevokeKey", pb.RevokeKeyRequest, body, pb.RevokeKeyResponse)
        return key_view(r.key)

    def verify_ledger(self) -> VerifyReport:
        r = self._call(
            "VerifyLedger",
            pb.VerifyLedgerRequest,
            pb.VerifyLedgerRequest.Body(),
            pb.VerifyLedgerResponse,
        )
        return VerifyReport(
            scope=r.scope,
            transactions_checked=r.transactions_checked,
            accounts_checked=r.accounts_checked,
            receipts_checked=r.receipts_checked,
            audit_entries_checked=r.audit_entries_checked,
            problems=tuple(r.problems),
        )

    def create_invite(
        self, *, role: Role | None, ttl_seconds: int = 0, for_handle: str = ""
    ) -> InviteView:
        body = pb.CreateInviteRequest.Body(ttl_seconds=ttl_seconds, for_handle=for_handle)
        if role is not None:
            body.role = ROLE_TO_PB[role]
        r = self._call("CreateInvite", pb.CreateInviteRequest, body, pb.CreateInviteResponse)
        role_back = PB_TO_ROLE.get(r.role, Role.USER)
        return InviteView(r.code, role_back, r.expires_at_ms, r.for_handle)

    def enroll(self, *, invite_code: str, handle: str) -> EnrollmentView:
        """Register this client's (new) key with an invite code."""
        body = pb.EnrollRequest.Body(
            invite_code=invite_code, handle=handle, public_key=self._key.public_key
        )
        r = self._call("Enroll", pb.EnrollRequest, body, pb.EnrollResponse)
        user = UserView(r.user_id, r.handle, PB_TO_ROLE.get(r.role, Role.USER), r.key_id)
        return EnrollmentView(
            user, tuple(EngineKeyView(k.key_id, k.public_key) for k in r.engine_keys)
        )

    def list_users(self) -> list[UserListing]:
        r = self._call(
            "ListUsers", pb.ListUsersRequest, pb.ListUsersRequest.Body(), pb.ListUsersResponse
        )
        return [
            UserListing(u.user_id, u.handle, PB_TO_ROLE.get(u.role, Role.USER), u.created_at_ms)
            for u in r.users
        ]


def _unknown(rpc: str, payment_id: str, cause: CPayError) -> OutcomeUnknown:
    if payment_id:
        return OutcomeUnknown(
            f"no answer in time ({cause.message}); payment {payment_id} may or may not have "
            f"been made: run `cpay show {payment_id}` to find out, or retry with --id "
            f"{payment_id} (it cannot be paid twice)",
            details={"payment_id": payment_id},
        )
    return OutcomeUnknown(f"no answer in time to {rpc} ({cause.message}): check before retrying")


# --- conversions (shared by every transport) -----------------------------------------------


def transaction_view(t: pb.Transaction) -> TransactionView:
    """Every answer's transactions (a history page is hundreds): positional, in the
    dataclass's field order, as keyword calls cost twice as much."""
    receipt = None
    if t.HasField("receipt"):
        signed = t.receipt
        receipt = ReceiptView(signed.key_id, signed.payload, signed.signature)
    return TransactionView(
        t.id,
        t.seq,
        PB_TO_KIND.get(t.kind, TxKind.PAYMENT),
        PB_TO_STATUS.get(t.status, TxStatus.UNKNOWN),
        t.created_at_ms,
        t.from_handle,
        t.to_handle,
        t.amount_minor,
        t.currency,
        t.memo,
        PB_TO_DIRECTION.get(t.direction),  # direction
        t.counterparty,
        t.failure_code,
        t.failure_message,
        tuple([PostingView(p.account, p.amount_minor, p.currency) for p in t.postings]),
        receipt,
    )


def key_view(k: pb.DeviceKey) -> KeyView:
    return KeyView(k.key_id, k.public_key, k.created_at_ms, k.revoked_at_ms)


def filter_pb(f: HistoryFilter) -> pb.HistoryFilter:
    return pb.HistoryFilter(
        text=f.text,
        counterparty=f.counterparty,
        currency=f.currency,
        status=STATUS_TO_PB[f.status] if f.status else pb.TRANSACTION_STATUS_UNSPECIFIED,
        direction=DIRECTION_TO_PB[f.direction] if f.direction else pb.DIRECTION_UNSPECIFIED,
        min_amount_minor=f.min_amount_minor,
        max_amount_minor=f.max_amount_minor,
        since_ms=f.since_ms,
        until_ms=f.until_ms,
    )


def receipt_verifies(tx: TransactionView, engine_keys: tuple[EngineKeyView, ...]) -> bool:
    """Offline check: the receipt is signed by a known engine key and matches `tx`."""
    if tx.receipt is None:
        return False
    keys = {k.key_id: k.public_key for k in engine_keys}
    public = keys.get(tx.receipt.key_id)
    if public is None:
        return False
    if not verify_signature(public, tx.receipt.signature, receipt_input(tx.receipt.payload)):
        return False
    expected = expected_fields(tx, tx.postings or None)
    return not receipt_mismatches(tx.receipt.payload, expected)
