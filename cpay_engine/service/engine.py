"""Engine: verifies a SignedRequest and runs its use case, in the documented order.

size limits -> envelope and freshness -> signature -> rate limit -> role -> input
validation -> idempotency lookup -> ownership -> KYC tier -> limits -> fraud score ->
ledger (one DB transaction: postings, idempotency record, audit entry, receipt) ->
notifications and feed.

Stages not built yet (rate limit, KYC, limits, fraud, notifications) have their
place marked in `dispatch` and in handlers.

What does not need the write lock happens before it: the key and its owner are
remembered after the first lookup (revocation is checked again inside the unit of work),
and a payment or mint parses its order, looks up its recipient and signs the receipt it
expects (Method.prepare; Ed25519 is deterministic, and the receipt is used only if the
recorded transaction has exactly its fields). Under the gRPC server's group commit, the
write lock is what every payment queues for. The nonce is recorded in the same
transaction as the use case, after the signature verifies; when a use case fails,
its transaction rolls back and the nonce alone is recorded, so it is still spent
and nothing else is kept.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message

from cpay_engine.adapters.crypto import SigningKey, verify_signature
from cpay_engine.domain.model import Role, role_refusal
from cpay_engine.domain.signing import (
    FRESHNESS_WINDOW_MS,
    MAX_BODY_BYTES,
    NONCE_MAX_BYTES,
    NONCE_MIN_BYTES,
    key_id_for,
    signing_input,
)
from cpay_engine.errors import (
    KEY_REVOKED,
    UNKNOWN_KEY,
    CPayError,
    InternalError,
    InvalidInput,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    quoted,
)
from cpay_engine.service import handlers
from cpay_engine.service.ports import (
    KeyRecord,
    Store,
    TransientStoreError,
    UnitOfWork,
    UserRecord,
)
from cpay_engine.wire import cpay_pb2 as pb

log = logging.getLogger("cpay.engine")

SERVICE = "cpay.v1.CPayService"
TRANSIENT_ATTEMPTS = 8
MEMO_SIZE = 4096  # keys, or users, the engine remembers before its memo starts over


def method_name(rpc: str) -> str:
    return f"/{SERVICE}/{rpc}"


Handler = Callable[["Context", Any], "handlers.Outcome"]
# Work a use case can do before its unit of work, outside the write lock: given the
# engine, the caller, the engine time and the body; its result reaches the handler as
# Context.prepared (see handlers.Prepared).
Prepare = Callable[["Engine", UserRecord, int, Any], Any]


@dataclass(frozen=True, slots=True)
class Method:
    rpc: str
    request_type: type[Message]
    handler: Handler
    roles: frozenset[Role] | None = None  # None: any signed-in user
    # Signed by a key that is not registered yet; its public half is in the body.
    enrollment: bool = False
    # Read-only: runs on a read snapshot outside the writer's lock; only the nonce is written.
    reads_only: bool = False
    # Its reads must all see one state (Store.snapshot), not each statement its own.
    one_snapshot: bool = False
    prepare: Prepare | None = None

    @property
    def name(self) -> str:
        return method_name(self.rpc)


ANY = None
ADMIN = frozenset({Role.ADMIN})
MOVERS = frozenset({Role.USER, Role.ADMIN})
OVERSEERS = frozenset({Role.ADMIN, Role.AUDITOR})

METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "ProcessPayment",
            pb.PaymentRequest,
            handlers.process_payment,
            MOVERS,
            prepare=handlers.prepare_payment,
        ),
        Method(
            "GetTransactionHistory",
            pb.TransactionHistoryRequest,
            handlers.history,
            ANY,
            reads_only=True,
        ),
        Method(
            "GetTransaction",
            pb.GetTransactionRequest,
            handlers.get_transaction,
            ANY,
            reads_only=True,
        ),
        Method("GetBalances", pb.GetBalancesRequest, handlers.balances, ANY, reads_only=True),
        Method("GetAccount", pb.GetAccountRequest, handlers.account, ANY, reads_only=True),
        Method(
            "MintDabloons",
            pb.MintDabloonsRequest,
            handlers.mint,
            ADMIN,
            prepare=handlers.prepare_mint,
        ),
        Method("CreateUser", pb.CreateUserRequest, handlers.create_user, ADMIN),
        Method("ListKeys", pb.ListKeysRequest, handlers.list_keys, ANY, reads_only=True),
        Method("RotateKey", pb.RotateKeyRequest, handlers.rotate_key, ANY),
        Method("RevokeKey", pb.RevokeKeyRequest, handlers.revoke_key, ANY),
        # Whole-ledger scans, on a snapshot: under the write lock every payment would wait.
        Method(
            "VerifyLedger",
            pb.VerifyLedgerRequest,
            handlers.verify_ledger,
            ANY,
            reads_only=True,
            one_snapshot=True,
        ),
        Method("CreateInvite", pb.CreateInviteRequest, handlers.create_invite, ADMIN),
        Method("Enroll", pb.EnrollRequest, handlers.enroll, ANY, enrollment=True),
        Method("ListUsers", pb.ListUsersRequest, handlers.list_users, OVERSEERS, reads_only=True),
    )
}


# What a refused caller was trying to do, in words (not the RPC's name).
ACTIONS = {
    "ProcessPayment": "paying",
    "MintDabloons": "minting Dabloons",
    "CreateUser": "adding a user",
    "CreateInvite": "inviting a user",
    "ListUsers": "listing the users",
}


@dataclass(frozen=True, slots=True)
class _Call:
    """A verified request on its way through one unit of work."""

    spec: Method
    key: KeyRecord
    user: UserRecord
    body: Any
    signed: pb.SignedRequest
    now: int
    prepared: Any = None

    def context(self, uow: UnitOfWork, engine: Engine) -> Context:
        return Context(self.user, self.key, self.now, uow, engine, self.prepared)

    def check_key(self, uow: UnitOfWork, engine: Engine) -> None:
        """In the unit of work or snapshot that runs the request: its key is not revoked
        (a revocation committed after the key was looked up must still stop it)."""
        if self.spec.enrollment:
            return
        current = uow.get_key(self.key.key_id)
        if current is None or current.revoked_at_ms is not None:
            engine.forget_key(self.key.key_id)
            raise revoked(self.key.key_id)

    def spend_nonce(
        self,
        uow: UnitOfWork,
        engine: Engine | None = None,
        *,
        replay_is_error: bool = True,
    ) -> None:
        """Record the nonce for as long as this envelope would pass the freshness check.

        With `engine` (the unit of work that runs the request), only while the key is not
        revoked, in the same statement: a revocation committed after the key was looked
        up stops the request, and nothing at all is written."""
        expires = self.signed.timestamp_ms + FRESHNESS_WINDOW_MS
        live = engine is not None and not self.spec.enrollment
        key_id = self.key.key_id
        if uow.record_nonce(key_id, self.signed.nonce, expires, self.now, key_must_be_live=live):
            return
        if live and engine is not None:
            self.check_key(uow, engine)  # not recorded: revoked, or else a replay
        if replay_is_error:
            raise Unauthenticated(
                "this request was already received (replayed nonce): sign a fresh request"
            )


class _Rejected(Exception):
    """Carries a use case's CPayError out of its unit of work, which then rolls back."""

    def __init__(self, error: CPayError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(slots=True)
class Context:
    """Who is asking, through which key, at what engine time, inside which unit of work."""

    user: UserRecord
    key: KeyRecord
    now_ms: int
    uow: UnitOfWork
    engine: Engine
    prepared: Any = None  # what Method.prepare returned, if the method has one


def revoked(key_id: str) -> Unauthenticated:
    return Unauthenticated(
        f"key {key_id} was revoked: this device can no longer sign with it; use a device "
        "of yours whose key is active (`cpay key list` there shows which)",
        details={"reason": KEY_REVOKED},
    )


V = TypeVar("V")


def _remember(memo: dict[str, V], key: str, value: V) -> V:
    """Put `value` in `memo`, which is emptied first once it holds MEMO_SIZE entries."""
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[key] = value
    return value


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Engine:
    def __init__(
        self,
        store: Store,
        *,
        receipt_key: Callable[[], SigningKey],
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.store = store
        self.clock = clock
        self._receipt_key_loader = receipt_key
        self._receipt_key: SigningKey | None = None
        # key id -> (key, owner) as first read; see _key_and_owner
        self._known_keys: dict[str, tuple[KeyRecord, UserRecord]] = {}
        self._known_users: dict[str, UserRecord] = {}  # by handle; see user_by_handle

    def receipt_key(self) -> SigningKey:
        if self._receipt_key is None:
            self._receipt_key = self._receipt_key_loader()
        return self._receipt_key

    def close(self) -> None:
        self.store.close()

    # --- bootstrap (no signed request: there is no user yet) ----------------------------

    def initialize(self, handle: str, device_public_key: bytes) -> UserRecord:
        """Create the first user (an admin), register the engine's receipt key."""
        now, key = self.clock(), self.receipt_key()
        return self.store.write(
            lambda uow: handlers.initialize(uow, now, handle, device_public_key, key)
        )

    # --- the pipeline --------------------------------------------------------------------

    def dispatch(self, method: str, request: Message) -> Message:
        """Verify `request.signed` for `method` and run the use case. Raises CPayError."""
        try:
            return self._dispatch(method, request)
        except CPayError:
            raise
        except TransientStoreError:  # a key or user lookup outside the retried unit of work
            raise Unavailable(
                "the database dropped the connection (a restart?); nothing was applied: try again"
            ) from None
        except Exception:
            log.exception("internal error in %s", method)
            raise InternalError(
                "internal error: the request was not applied; run with --debug and report it"
            ) from None

    def _dispatch(self, method: str, request: Message) -> Message:
        spec = METHODS.get(method)
        if spec is None:
            raise InvalidInput(f"unknown method {method}")
        signed: pb.SignedRequest = request.signed  # type: ignore[attr-defined]
        # size limits
        if len(signed.body) > MAX_BODY_BYTES:
            raise InvalidInput(
                f"the request body is {len(signed.body)} bytes; the limit is {MAX_BODY_BYTES}"
            )
        # envelope and freshness
        now = self.clock()
        if not signed.key_id or not signed.signature:
            raise Unauthenticated("the request is not signed: send a SignedRequest envelope")
        if not NONCE_MIN_BYTES <= len(signed.nonce) <= NONCE_MAX_BYTES:
            raise Unauthenticated(
                f"the request nonce must be {NONCE_MIN_BYTES}-{NONCE_MAX_BYTES} random bytes"
            )
        skew = signed.timestamp_ms - now
        if abs(skew) > FRESHNESS_WINDOW_MS:
            raise Unauthenticated(
                f"the request timestamp is {abs(skew) // 1000} s "
                f"{'ahead of' if skew > 0 else 'behind'} the engine clock (window ±"
                f"{FRESHNESS_WINDOW_MS // 1000} s): check this device's clock"
            )
        # signature
        if spec.enrollment:
            new_key, placeholder, new_body = self._enrollment_key(spec, request, signed, now)
            return self._run(spec, new_key, placeholder, new_body, signed, now)
        key, user = self._key_and_owner(signed.key_id)
        message = signing_input(
            method, signed.key_id, signed.timestamp_ms, signed.nonce, signed.body
        )
        if not verify_signature(key.public_key, signed.signature, message):
            raise Unauthenticated("the request signature does not verify for key " + key.key_id)
        # rate limit: (the rate-limiting issue adds it here)
        # role
        if spec.roles is not None and user.role not in spec.roles:
            action = ACTIONS.get(spec.rpc, spec.rpc)
            raise PermissionDenied(role_refusal(action, spec.roles, user.handle, user.role))
        body = self._decode(spec, request, signed)
        return self._run(spec, key, user, body, signed, now)

    def _key_and_owner(self, key_id: str) -> tuple[KeyRecord, UserRecord]:
        """The key a request names and its owner, before the signature is checked.

        A key's public half and owner never change (the key id is a hash of the public
        key; users are never edited), so they are remembered here after the first
        lookup; only revocation changes, once, and the request is checked again where it
        runs: a write records its nonce only while the key is live (`_Call.spend_nonce`),
        a read checks in its snapshot (`_Call.check_key`)."""
        known = self._known_keys.get(key_id)
        if known is None:
            with self.store.reader() as reader:
                found, owner = reader.get_key_and_owner(key_id)
            if found is None or owner is None:
                raise Unauthenticated(
                    f"unknown key {quoted(key_id)}: this device is not registered with the wallet",
                    details={"reason": UNKNOWN_KEY},
                )
            known = _remember(self._known_keys, key_id, (found, owner))
        if known[0].revoked_at_ms is not None:
            raise revoked(key_id)
        return known

    def user_by_handle(self, handle: str) -> UserRecord | None:
        """The user with `handle`, read outside any unit of work. Users are never edited
        or deleted, so one found is remembered; one not found is asked for again."""
        user = self._known_users.get(handle)
        if user is None:
            with self.store.reader() as reader:
                user = reader.get_user_by_handle(handle)
            if user is not None:
                _remember(self._known_users, handle, user)
        return user

    def forget_key(self, key_id: str) -> None:
        self._known_keys.pop(key_id, None)

    @staticmethod
    def _decode(spec: Method, request: Message, signed: pb.SignedRequest) -> Any:
        try:
            return type(request).Body.FromString(signed.body)  # type: ignore[attr-defined]
        except DecodeError:
            raise InvalidInput(f"the request body is not a valid {spec.rpc} body") from None

    def _enrollment_key(
        self, spec: Method, request: Message, signed: pb.SignedRequest, now: int
    ) -> tuple[KeyRecord, UserRecord, Any]:
        body = self._decode(spec, request, signed)
        public = bytes(body.public_key)
        if len(public) != 32 or key_id_for(public) != signed.key_id:
            raise Unauthenticated("an enrollment must be signed by the key it registers")
        message = signing_input(
            spec.name, signed.key_id, signed.timestamp_ms, signed.nonce, signed.body
        )
        if not verify_signature(public, signed.signature, message):
            raise Unauthenticated("the enrollment signature does not verify")
        with self.store.reader() as reader:
            if reader.get_key(signed.key_id) is not None:
                raise Unauthenticated(f"key {signed.key_id} is already registered")
        placeholder = UserRecord("", "", Role.USER, now)
        return KeyRecord(signed.key_id, "", public, now, None), placeholder, body

    def _run(
        self,
        spec: Method,
        key: KeyRecord,
        user: UserRecord,
        body: Any,
        signed: pb.SignedRequest,
        now: int,
    ) -> Message:
        prepared = spec.prepare(self, user, now, body) if spec.prepare else None
        call = _Call(spec, key, user, body, signed, now, prepared)
        run = self._read if spec.reads_only else self._write
        for attempt in range(TRANSIENT_ATTEMPTS):
            try:
                outcome, error = run(call)
                break
            except TransientStoreError:
                log.info("transient conflict in %s (attempt %d); retrying", spec.rpc, attempt + 1)
                time.sleep(random.uniform(0, 0.005 * 2**attempt))
        else:
            raise Unavailable("the database kept aborting this request under contention; try again")
        if error is not None:
            raise error
        assert outcome is not None
        if outcome.error is not None:
            raise outcome.error
        return outcome.response

    def _write(self, call: _Call) -> tuple[handlers.Outcome | None, CPayError | None]:
        """One unit of work: the nonce, then the use case. If the use case fails, the
        whole unit rolls back and the nonce alone is recorded in a second, tiny one, so
        the success path pays for no savepoint of its own."""

        def work(uow: UnitOfWork) -> handlers.Outcome:
            call.spend_nonce(uow, self)  # a replay or a revoked key: nothing is written
            try:
                return call.spec.handler(call.context(uow, self), call.body)
            except CPayError as error:
                raise _Rejected(error) from None

        try:
            return self.store.write(work), None
        except _Rejected as rejected:
            self.store.write(lambda uow: call.spend_nonce(uow, replay_is_error=False))
            return None, rejected.error

    def _read(self, call: _Call) -> tuple[handlers.Outcome | None, CPayError | None]:
        """A read answers from a snapshot without queueing behind writers; its nonce is
        then recorded, and a replay gets no data, only the error."""
        outcome: handlers.Outcome | None = None
        error: CPayError | None = None
        view = self.store.snapshot() if call.spec.one_snapshot else self.store.reader()
        with view as reader:
            call.check_key(reader, self)  # a revoked key's request is refused unrecorded
            try:
                outcome = call.spec.handler(call.context(reader, self), call.body)
            except CPayError as exc:
                error = exc
        self.store.write(call.spend_nonce)
        return outcome, error
