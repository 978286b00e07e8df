"""One function per use case. Each runs inside the caller's unit of work.

A handler validates its body, then does its work; it returns an Outcome whose
`error`, when set, is raised after the unit of work commits (a failed payment is
recorded and its id is spent, so a retry replays the same failure).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.message import Message

from cpay_engine.adapters.crypto import SigningKey, check_public_key, verify_signature
from cpay_engine.domain.jsontext import compact_encoder
from cpay_engine.domain.model import (
    MIN_ID_PREFIX,
    TREASURY_HANDLE,
    Direction,
    Role,
    TxKind,
    TxStatus,
    check_memo,
    check_payee,
    parse_handle,
    parse_payment_id,
    the_one_starting_with,
)
from cpay_engine.domain.money import (
    DABLOON,
    MAX_BALANCE_MINOR,
    check_amount_minor,
    format_amount,
    parse_currency,
)
from cpay_engine.domain.query import (
    HistoryFilter,
    check_limit,
    decode_cursor,
    encode_cursor,
    validated,
)
from cpay_engine.domain.receipts import ReceiptFields
from cpay_engine.domain.signing import key_id_for, key_proof_input, receipt_input
from cpay_engine.errors import (
    AlreadyInitialized,
    CPayError,
    FailedPrecondition,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    NotFound,
    Unauthenticated,
    quoted,
)
from cpay_engine.service import verify
from cpay_engine.service.ports import (
    AccountRecord,
    AuditEntry,
    InviteRecord,
    KeyRecord,
    NewTransaction,
    ReceiptRecord,
    TxRecord,
    UnitOfWork,
    UserRecord,
)
from cpay_engine.service.views import (
    PB_TO_DIRECTION,
    PB_TO_ROLE,
    PB_TO_STATUS,
    ROLE_TO_PB,
    fill_transaction,
    key_pb,
    stored_receipt,
    transaction_pb,
)
from cpay_engine.wire import cpay_pb2 as pb

if TYPE_CHECKING:
    from cpay_engine.service.engine import Context, Engine

TREASURY = "treasury"


@dataclass(frozen=True, slots=True)
class Outcome:
    response: Message
    error: CPayError | None = None


def initialize(
    uow: UnitOfWork, now_ms: int, handle: str, device_public_key: bytes, engine_key: SigningKey
) -> UserRecord:
    if uow.user_count() > 0:
        raise AlreadyInitialized("this wallet already has users: use `cpay user add` instead")
    handle = parse_handle(handle)
    check_public_key(device_public_key)
    user = UserRecord(str(uuid.uuid4()), handle, Role.ADMIN, now_ms)
    uow.insert_user(user)
    uow.insert_key(
        KeyRecord(key_id_for(device_public_key), user.id, device_public_key, now_ms, None)
    )
    uow.insert_engine_key(engine_key.key_id, engine_key.public_key, now_ms)
    uow.system_account(TREASURY, DABLOON, may_go_negative=True)
    uow.set_meta("wallet_id", str(uuid.uuid4()))
    uow.append_audit(now_ms, handle, "wallet.initialized", _json({"admin": handle}))
    return user


# --- payments ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Order:
    payment_id: str
    recipient: str
    amount_minor: int
    currency: str
    memo: str


def _parse_order(body: pb.PaymentRequest.Body | pb.MintDabloonsRequest.Body) -> _Order:
    if not body.payment_id:
        raise InvalidInput("the payment id is missing: the client must choose one before sending")
    return _Order(  # payment_id, recipient, amount_minor, currency, memo
        parse_payment_id(body.payment_id),
        parse_handle(body.recipient),
        check_amount_minor(body.amount_minor),
        parse_currency(body.currency),
        check_memo(body.memo),
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a payment or mint works out before its unit of work (outside the write lock):
    the parsed order and, for the outcome it expects (the money moves), its receipt.

    Ed25519 signatures are deterministic, so a receipt signed here is the very receipt
    the engine would sign after posting; `_post` uses it only if the transaction it
    records has exactly the fields it was signed for, and signs afresh otherwise (a
    failed payment has no receipt at all)."""

    order: _Order
    recipient: UserRecord | None = None  # users are never edited: safe to look up early
    receipt_fields: ReceiptFields | None = None
    receipt: ReceiptRecord | None = None


def _prepare(
    engine: Engine,
    now_ms: int,
    body: pb.PaymentRequest.Body | pb.MintDabloonsRequest.Body,
    kind: TxKind,
    from_handle: str,
    source_label: str,
) -> Prepared | None:
    try:
        order = _parse_order(body)
    except CPayError:
        return None  # the handler parses again, in its unit of work, and says why
    recipient = engine.user_by_handle(order.recipient)
    if order.currency != DABLOON or recipient is None:
        return Prepared(order, recipient)
    amount, currency = order.amount_minor, order.currency
    fields = ReceiptFields(
        order.payment_id,
        kind.value,
        TxStatus.COMPLETED.value,
        now_ms,
        from_handle,
        order.recipient,
        amount,
        currency,
        order.memo,
        (
            (source_label, -amount, currency),
            (_user_label(order.recipient, currency), amount, currency),
        ),
    )
    return Prepared(order, recipient, fields, _signed_receipt(engine.receipt_key(), fields))


def prepare_payment(
    engine: Engine, user: UserRecord, now_ms: int, body: pb.PaymentRequest.Body
) -> Prepared | None:
    source = _user_label(user.handle, DABLOON)
    return _prepare(engine, now_ms, body, TxKind.PAYMENT, user.handle, source)


def prepare_mint(
    engine: Engine, _user: UserRecord, now_ms: int, body: pb.MintDabloonsRequest.Body
) -> Prepared | None:
    treasury = f"{TREASURY}:{DABLOON}"  # the account name uow.system_account gives it
    return _prepare(engine, now_ms, body, TxKind.MINT, TREASURY_HANDLE, treasury)


def _recipient(ctx: Context, order: _Order) -> UserRecord | None:
    prepared = ctx.prepared
    if isinstance(prepared, Prepared) and prepared.recipient is not None:
        return prepared.recipient
    return ctx.uow.get_user_by_handle(order.recipient)


def _order(ctx: Context, body: pb.PaymentRequest.Body | pb.MintDabloonsRequest.Body) -> _Order:
    prepared = ctx.prepared
    return prepared.order if isinstance(prepared, Prepared) else _parse_order(body)


def process_payment(ctx: Context, body: pb.PaymentRequest.Body) -> Outcome:
    order = _order(ctx, body)
    if order.currency != DABLOON:
        raise InvalidInput(
            f"{order.currency} payments go through the external payment provider, which this "
            f"engine does not have yet: pay in DBL"
        )
    existing = ctx.uow.claim_payment_id(order.payment_id)
    if existing is not None:
        return _replay(ctx, existing, order, TxKind.PAYMENT, pb.PaymentResponse)
    recipient = _recipient(ctx, order)
    if recipient is None:
        raise NotFound(f"no user @{order.recipient}: check the handle")
    check_payee(ctx.user.handle, recipient.handle)
    # KYC tier, limits and fraud score go here (their issues add them).
    source, target = ctx.uow.payment_accounts(ctx.user.id, recipient.id, order.currency)
    return _post(
        ctx, order, TxKind.PAYMENT, ctx.user, source, recipient, target, pb.PaymentResponse
    )


def mint(ctx: Context, body: pb.MintDabloonsRequest.Body) -> Outcome:
    order = _order(ctx, body)
    if order.currency != DABLOON:
        raise InvalidInput(f"only Dabloons can be minted, not {order.currency}: use DBL")
    existing = ctx.uow.claim_payment_id(order.payment_id)
    if existing is not None:
        return _replay(ctx, existing, order, TxKind.MINT, pb.MintDabloonsResponse)
    recipient = _recipient(ctx, order)
    if recipient is None:
        raise NotFound(f"no user @{order.recipient}: check the handle")
    source = ctx.uow.system_account(TREASURY, DABLOON, may_go_negative=True)
    target = ctx.uow.account(recipient.id, order.currency, create=True)
    assert target is not None
    return _post(ctx, order, TxKind.MINT, None, source, recipient, target, pb.MintDabloonsResponse)


def _post(
    ctx: Context,
    order: _Order,
    kind: TxKind,
    payer: UserRecord | None,
    source: AccountRecord | None,
    payee: UserRecord,
    target: AccountRecord,
    response_type: type[pb.PaymentResponse] | type[pb.MintDabloonsResponse],
) -> Outcome:
    uow, now = ctx.uow, ctx.now_ms
    from_handle = payer.handle if payer else TREASURY_HANDLE
    _check_room(source, target, payee, order)
    moved = source is not None and uow.move(source, target, order.amount_minor)
    status = TxStatus.COMPLETED if moved else TxStatus.FAILED
    failure = None
    if not moved:
        failure = InsufficientFunds(
            f"insufficient funds: @{from_handle} cannot pay "
            f"{format_amount(order.amount_minor, order.currency)} {order.currency}; "
            f"payment {order.payment_id} is recorded as failed. Use a new id once funds arrive.",
            details={"payment_id": order.payment_id},
        )
    tx = NewTransaction(  # positional (every payment): the fields in declaration order
        order.payment_id,  # id
        kind,
        status,
        now,  # created_at_ms
        ctx.user.id,  # initiator_id
        payer.id if payer else None,  # from_user_id
        payee.id,  # to_user_id
        from_handle,
        payee.handle,  # to_handle
        order.amount_minor,
        order.currency,
        order.memo,
        failure.code if failure else "",
        failure.message if failure else "",
    )
    parties: list[tuple[str, Direction]] = []
    if payer is not None:
        parties.append((payer.id, Direction.OUT))
    receipt = None
    labels: list[tuple[str, int, str]] = []
    postings_rows: list[tuple[int, int, str]] = []
    if moved:
        assert source is not None
        parties.append((payee.id, Direction.IN))
        postings_rows = [
            (source.id, -order.amount_minor, order.currency),
            (target.id, order.amount_minor, order.currency),
        ]
        labels = [
            (_label(source, from_handle), -order.amount_minor, order.currency),
            (_label(target, payee.handle), order.amount_minor, order.currency),
        ]
        receipt = _sign_receipt(ctx, tx, labels)  # the payload does not depend on seq
    audit = AuditEntry(
        now,
        ctx.user.handle,
        f"{kind.value}.{status.value}",
        _json(
            {
                "id": order.payment_id,
                "from": from_handle,
                "to": payee.handle,
                "amount_minor": order.amount_minor,
                "currency": order.currency,
            }
        ),
    )
    seq = uow.record_transaction(tx, postings_rows, receipt, parties, audit)
    direction: Direction | None = None  # an admin minting to someone else: not a party
    if payee.id == ctx.user.id:
        direction = Direction.IN
    elif payer is not None and payer.id == ctx.user.id:
        direction = Direction.OUT
    response = response_type()
    fill_transaction(response.transaction, tx, seq, direction, labels, receipt)
    return Outcome(response, failure)


def _check_room(
    source: AccountRecord | None, target: AccountRecord, payee: UserRecord, order: _Order
) -> None:
    """Refuse, before anything is written, a move that would take a balance past
    MAX_BALANCE_MINOR either way (the accounts were read in this unit of work)."""
    if target.balance_minor + order.amount_minor > MAX_BALANCE_MINOR:
        raise FailedPrecondition(
            f"@{payee.handle}'s {order.currency} balance would pass {_largest(order)}, the "
            "largest balance CPay keeps: send less"
        )
    if source is not None and source.balance_minor - order.amount_minor < -MAX_BALANCE_MINOR:
        if source.user_id is None:  # the treasury, minting
            room = max(source.balance_minor + MAX_BALANCE_MINOR, 0)
            can = f"only {format_amount(room, order.currency)} {order.currency}" if room else "no"
            raise FailedPrecondition(
                f"the treasury can mint {can} more: CPay keeps no balance past {_largest(order)}"
            )
        raise FailedPrecondition(
            f"{source.name} would go below -{_largest(order)}, the largest balance CPay "
            "keeps: send less"
        )


def _largest(order: _Order) -> str:
    return f"{format_amount(MAX_BALANCE_MINOR, order.currency)} {order.currency}"


def _label(account: AccountRecord, handle: str) -> str:
    return account.name if account.user_id is None else _user_label(handle, account.currency)


def _user_label(handle: str, currency: str) -> str:
    """How a user's account is named in postings and receipts."""
    return f"@{handle}:{currency}"


def _signed_receipt(key: SigningKey, fields: ReceiptFields) -> ReceiptRecord:
    payload = fields.payload()
    return ReceiptRecord(key.key_id, payload, key.sign(receipt_input(payload)))


def _sign_receipt(
    ctx: Context, tx: NewTransaction, postings: list[tuple[str, int, str]]
) -> ReceiptRecord:
    """The receipt of a completed transaction: the one signed before the unit of work if
    it is for exactly these fields (see Prepared), else signed now."""
    fields = ReceiptFields.of(tx, postings)
    prepared = ctx.prepared
    if isinstance(prepared, Prepared) and prepared.receipt and prepared.receipt_fields == fields:
        return prepared.receipt
    return _signed_receipt(ctx.engine.receipt_key(), fields)


def _replay(
    ctx: Context,
    existing: TxRecord,
    order: _Order,
    kind: TxKind,
    response_type: type[pb.PaymentResponse] | type[pb.MintDabloonsResponse],
) -> Outcome:
    pid = order.payment_id
    if existing.initiator_id != ctx.user.id:
        raise IdempotencyConflict(
            f"payment id {pid} is already used by another payment: choose a new id",
            details={"payment_id": pid, "field": "payment_id"},
        )
    differences: list[tuple[str, object, object]] = [
        ("kind", existing.kind.value, kind.value),
        ("recipient", "@" + existing.to_handle, "@" + order.recipient),
        (
            "amount",
            format_amount(existing.amount_minor, existing.currency),
            format_amount(order.amount_minor, existing.currency),
        ),
        ("currency", existing.currency, order.currency),
        ("memo", existing.memo, order.memo),
    ]
    for field, old, new in differences:
        if old != new:
            raise IdempotencyConflict(
                f"payment id {pid} was already used with a different {field} "
                f"(was {quoted(str(old))}, now {quoted(str(new))}): a new payment needs a new id",
                details={"payment_id": pid, "field": field},
            )
    direction = ctx.uow.party_direction(ctx.user.id, existing.seq)  # None: not a party
    postings = ctx.uow.postings(existing.seq)
    receipt = stored_receipt(ctx.uow, existing, postings)
    response = response_type(
        transaction=transaction_pb(existing, direction, postings, receipt), replayed=True
    )
    error = None
    if existing.status is TxStatus.FAILED:
        error = InsufficientFunds(
            f"payment {pid} had failed: {existing.failure_message}", details={"payment_id": pid}
        )
    return Outcome(response, error)


# --- reads -------------------------------------------------------------------------------


E = TypeVar("E")


def _enum(value: int, known: Mapping[Any, E], field: str) -> E | None:
    """A wire enum: 0 is 'not set'; a number this engine does not know is refused, never
    read as 'not set' (a filter silently dropped, an admin's request turned into another)."""
    if value == 0:
        return None
    found = known.get(value)
    if found is None:
        raise InvalidInput(
            f"{field} {value} is not one this engine knows: leave it unset or "
            f"use one of {', '.join(str(k) for k in sorted(known))}"
        )
    return found


def _filter(f: pb.HistoryFilter) -> HistoryFilter:
    return validated(
        HistoryFilter(
            words=tuple(f.text.split()),
            counterparty=f.counterparty,
            currency=f.currency,
            status=_enum(f.status, PB_TO_STATUS, "filter.status"),
            direction=_enum(f.direction, PB_TO_DIRECTION, "filter.direction"),
            min_amount_minor=f.min_amount_minor,
            max_amount_minor=f.max_amount_minor,
            since_ms=f.since_ms,
            until_ms=f.until_ms,
        )
    )


def history(ctx: Context, body: pb.TransactionHistoryRequest.Body) -> Outcome:
    limit = check_limit(body.limit)
    before = decode_cursor(body.before_cursor)
    after = decode_cursor(body.after_cursor)
    ascending = bool(body.after_cursor)  # a sync: everything after the cursor, oldest first
    rows = ctx.uow.history(ctx.user.id, _filter(body.filter), before, after, limit, ascending)
    response = pb.TransactionHistoryResponse()
    for row in rows:
        assert row.direction is not None
        if body.include_details:
            postings = ctx.uow.postings(row.seq)
            receipt = stored_receipt(ctx.uow, row, postings)
            response.transactions.append(transaction_pb(row, row.direction, postings, receipt))
        else:
            response.transactions.append(transaction_pb(row, row.direction))
    if len(rows) == limit:
        edge = rows[-1].seq
        response.next_cursor = encode_cursor(edge)
    newest = max((r.seq for r in rows), default=after)
    response.sync_cursor = encode_cursor(newest) if newest else ""
    if ascending and after:
        response.after_id = ctx.uow.party_tx_id(ctx.user.id, after)
    return Outcome(response)


def get_transaction(ctx: Context, body: pb.GetTransactionRequest.Body) -> Outcome:
    tx_id = body.id.strip()
    if not tx_id:
        raise InvalidInput("give a transaction id")
    tx = ctx.uow.find_transaction(tx_id)
    direction = ctx.uow.party_direction(ctx.user.id, tx.seq) if tx else None
    if tx is None or (direction is None and ctx.user.role not in (Role.ADMIN, Role.AUDITOR)):
        tx = _own_transaction_by_prefix(ctx, tx_id)
        direction = tx.direction
    postings = ctx.uow.postings(tx.seq)  # direction None: not the viewer's own
    message = transaction_pb(tx, direction, postings, stored_receipt(ctx.uow, tx, postings))
    return Outcome(pb.GetTransactionResponse(transaction=message))


def _own_transaction_by_prefix(ctx: Context, prefix: str) -> TxRecord:
    """A short id, as git takes short hashes: the one transaction of the caller's own
    whose id starts with `prefix` (at least MIN_ID_PREFIX characters)."""
    found = []
    if len(prefix) >= MIN_ID_PREFIX:
        found = ctx.uow.find_own_transactions_by_prefix(ctx.user.id, prefix, limit=2)
    tx = the_one_starting_with(prefix, found)
    if tx is None:
        hint = "check the id with `cpay history`"
        if len(prefix) < MIN_ID_PREFIX:  # too short to look for: the input is at fault
            raise InvalidInput(
                f"no transaction {quoted(prefix)}: give the whole id or its first "
                f"{MIN_ID_PREFIX} characters at least ({hint})"
            )
        raise NotFound(f"no transaction {quoted(prefix)} that you can see: {hint}")
    return tx


def balances(ctx: Context, body: pb.GetBalancesRequest.Body) -> Outcome:
    wanted = parse_currency(body.currency) if body.currency else ""
    found = {a.currency: a.balance_minor for a in ctx.uow.user_accounts(ctx.user.id)}
    found.setdefault(DABLOON, 0)
    response = pb.GetBalancesResponse()
    for currency in sorted(found):
        if not wanted or currency == wanted:
            response.balances.add(currency=currency, available_minor=found[currency])
    if wanted and not response.balances:
        response.balances.add(currency=wanted, available_minor=0)
    return Outcome(response)


def account(ctx: Context, _body: pb.GetAccountRequest.Body) -> Outcome:
    response = pb.GetAccountResponse(
        user_id=ctx.user.id,
        handle=ctx.user.handle,
        role=ROLE_TO_PB[ctx.user.role],
        key_id=ctx.key.key_id,
    )
    for key_id, public in ctx.uow.engine_keys():
        response.engine_keys.add(key_id=key_id, public_key=public)
    return Outcome(response)


# --- users and keys ----------------------------------------------------------------------


def create_user(ctx: Context, body: pb.CreateUserRequest.Body) -> Outcome:
    handle = parse_handle(body.handle)
    role = _enum(body.role, PB_TO_ROLE, "role") or Role.USER
    public = check_public_key(body.public_key)
    user = UserRecord(str(uuid.uuid4()), handle, role, ctx.now_ms)
    ctx.uow.insert_user(user)
    key_id = key_id_for(public)
    ctx.uow.insert_key(KeyRecord(key_id, user.id, public, ctx.now_ms, None))
    ctx.uow.append_audit(
        ctx.now_ms, ctx.user.handle, "user.created", _json({"handle": handle, "role": role.value})
    )
    return Outcome(
        pb.CreateUserResponse(user_id=user.id, handle=handle, role=ROLE_TO_PB[role], key_id=key_id)
    )


def list_keys(ctx: Context, _body: pb.ListKeysRequest.Body) -> Outcome:
    response = pb.ListKeysResponse()
    for key in ctx.uow.list_keys(ctx.user.id):
        response.keys.append(key_pb(key))
    return Outcome(response)


def rotate_key(ctx: Context, body: pb.RotateKeyRequest.Body) -> Outcome:
    public = check_public_key(body.new_public_key)
    new_id = key_id_for(public)
    if not verify_signature(public, body.new_key_proof, key_proof_input(ctx.key.key_id, new_id)):
        raise InvalidInput("the new key's proof of possession does not verify")
    record = KeyRecord(new_id, ctx.user.id, public, ctx.now_ms, None)
    ctx.uow.insert_key(record)
    ctx.uow.revoke_key(ctx.key.key_id, ctx.now_ms)
    ctx.uow.append_audit(
        ctx.now_ms,
        ctx.user.handle,
        "key.rotated",
        _json({"old": ctx.key.key_id, "new": new_id}),
    )
    return Outcome(pb.RotateKeyResponse(new_key=key_pb(record), revoked_key_id=ctx.key.key_id))


def revoke_key(ctx: Context, body: pb.RevokeKeyRequest.Body) -> Outcome:
    target = ctx.uow.get_key(body.key_id.strip())
    if target is None or target.user_id != ctx.user.id:
        raise NotFound(f"no key {quoted(body.key_id)} of yours: see `cpay key list`")
    if target.revoked_at_ms is not None:
        return Outcome(pb.RevokeKeyResponse(key=key_pb(target)))
    active = [k for k in ctx.uow.list_keys(ctx.user.id) if k.revoked_at_ms is None]
    if len(active) <= 1:
        raise FailedPrecondition(
            f"{target.key_id} is your only active key: revoking it would lock you out; "
            f"use `cpay key rotate` instead"
        )
    ctx.uow.revoke_key(target.key_id, ctx.now_ms)
    ctx.uow.append_audit(ctx.now_ms, ctx.user.handle, "key.revoked", _json({"key": target.key_id}))
    updated = ctx.uow.get_key(target.key_id)
    assert updated is not None
    return Outcome(pb.RevokeKeyResponse(key=key_pb(updated)))


INVITE_DEFAULT_TTL_S = 24 * 3600
INVITE_MAX_TTL_S = 30 * 24 * 3600


def invite_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode("utf-8")).hexdigest()


def create_invite(ctx: Context, body: pb.CreateInviteRequest.Body) -> Outcome:
    role = _enum(body.role, PB_TO_ROLE, "role")
    ttl = body.ttl_seconds or INVITE_DEFAULT_TTL_S
    if not 60 <= ttl <= INVITE_MAX_TTL_S:
        raise InvalidInput(f"an invite lives between 60 s and {INVITE_MAX_TTL_S // 86400} days")
    owner = None
    if body.for_handle:  # another device for an existing user
        handle = parse_handle(body.for_handle)
        owner = ctx.uow.get_user_by_handle(handle)
        if owner is None:
            raise NotFound(f"no user @{handle}: check the handle")
        if role is not None and role is not owner.role:
            raise InvalidInput(
                f"@{handle} is {owner.role.value}: an invite for their device carries their "
                "role; leave the role out"
            )
        role = owner.role
    role = role or Role.USER
    code = "inv-" + base64.b32encode(secrets.token_bytes(15)).decode("ascii").lower()
    expires = ctx.now_ms + ttl * 1000
    owner_id = owner.id if owner else None
    ctx.uow.insert_invite(
        InviteRecord(invite_hash(code), role, ctx.user.id, ctx.now_ms, expires, None, owner_id)
    )
    details: dict[str, object] = {"role": role.value, "expires_at_ms": expires}
    if owner is not None:
        details["for"] = owner.handle
    ctx.uow.append_audit(ctx.now_ms, ctx.user.handle, "invite.created", _json(details))
    return Outcome(
        pb.CreateInviteResponse(
            code=code,
            role=ROLE_TO_PB[role],
            expires_at_ms=expires,
            for_handle=owner.handle if owner else "",
        )
    )


def enroll(ctx: Context, body: pb.EnrollRequest.Body) -> Outcome:
    """Runs as the new, not yet registered key (ctx.user is a placeholder)."""
    handle = parse_handle(body.handle)
    public = check_public_key(body.public_key)
    code_hash = invite_hash(body.invite_code)
    invite = ctx.uow.get_invite(code_hash)
    if invite is None:
        raise Unauthenticated("this invite code is not valid: ask an admin for a new one")
    if invite.used_at_ms is not None:
        raise Unauthenticated("this invite code was already used: ask an admin for a new one")
    if invite.expires_at_ms <= ctx.now_ms:
        raise Unauthenticated("this invite code has expired: ask an admin for a new one")
    if invite.for_user_id is not None:  # another device for an existing user
        existing = ctx.uow.get_user(invite.for_user_id)
        assert existing is not None  # users are never deleted
        if handle != existing.handle:
            raise InvalidInput(
                f"this invite adds a device for @{existing.handle}: enroll with that handle "
                f"(--handle {existing.handle})"
            )
        user, action = existing, "key.enrolled"
    else:
        user = UserRecord(str(uuid.uuid4()), handle, invite.role, ctx.now_ms)
        action = "user.enrolled"
        ctx.uow.insert_user(user)
    key_id = key_id_for(public)
    ctx.uow.insert_key(KeyRecord(key_id, user.id, public, ctx.now_ms, None))
    if not ctx.uow.use_invite(code_hash, user.id, ctx.now_ms):
        raise Unauthenticated("this invite code was already used: ask an admin for a new one")
    ctx.uow.append_audit(
        ctx.now_ms,
        handle,
        action,
        _json({"handle": handle, "role": user.role.value, "key_id": key_id}),
    )
    response = pb.EnrollResponse(
        user_id=user.id, handle=handle, role=ROLE_TO_PB[user.role], key_id=key_id
    )
    for engine_key_id, engine_public in ctx.uow.engine_keys():
        response.engine_keys.add(key_id=engine_key_id, public_key=engine_public)
    return Outcome(response)


def list_users(ctx: Context, _body: pb.ListUsersRequest.Body) -> Outcome:
    response = pb.ListUsersResponse()
    for user in ctx.uow.list_users():
        response.users.add(
            user_id=user.id,
            handle=user.handle,
            role=ROLE_TO_PB[user.role],
            created_at_ms=user.created_at_ms,
        )
    return Outcome(response)


def verify_ledger(ctx: Context, _body: pb.VerifyLedgerRequest.Body) -> Outcome:
    if ctx.user.role in (Role.ADMIN, Role.AUDITOR):
        report = verify.verify_all(ctx.uow)
    else:
        report = verify.verify_own(ctx.uow, ctx.user)
    return Outcome(report)


_AUDIT_DETAILS = compact_encoder(sort_keys=True, ensure_ascii=True)


def _json(value: object) -> str:
    return _AUDIT_DETAILS(value)
