"""Records to wire messages (the engine answers in protobuf, in-process or over gRPC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cpay_engine.domain.model import Direction, Role, TxKind, TxStatus
from cpay_engine.domain.receipts import TransactionLike, ledger_payload
from cpay_engine.service.ports import (
    KeyRecord,
    PostingRecord,
    ReceiptRecord,
    TxRecord,
    UnitOfWork,
)
from cpay_engine.wire import cpay_pb2 as pb

ROLE_TO_PB = {
    Role.USER: pb.ROLE_USER,
    Role.ADMIN: pb.ROLE_ADMIN,
    Role.AUDITOR: pb.ROLE_AUDITOR,
}
PB_TO_ROLE = {v: k for k, v in ROLE_TO_PB.items()}
STATUS_TO_PB = {
    TxStatus.PENDING: pb.TRANSACTION_STATUS_PENDING,
    TxStatus.COMPLETED: pb.TRANSACTION_STATUS_COMPLETED,
    TxStatus.FAILED: pb.TRANSACTION_STATUS_FAILED,
    TxStatus.UNKNOWN: pb.TRANSACTION_STATUS_UNKNOWN,
}
PB_TO_STATUS = {v: k for k, v in STATUS_TO_PB.items()}
KIND_TO_PB = {TxKind.PAYMENT: pb.TRANSACTION_KIND_PAYMENT, TxKind.MINT: pb.TRANSACTION_KIND_MINT}
PB_TO_KIND = {v: k for k, v in KIND_TO_PB.items()}
DIRECTION_TO_PB = {Direction.IN: pb.DIRECTION_IN, Direction.OUT: pb.DIRECTION_OUT}
PB_TO_DIRECTION = {v: k for k, v in DIRECTION_TO_PB.items()}


class TxFields(TransactionLike, Protocol):
    """What an answer tells of a transaction: a stored one (TxRecord) or one just
    recorded (NewTransaction, whose seq the insert gave)."""

    @property
    def kind(self) -> TxKind: ...
    @property
    def status(self) -> TxStatus: ...
    @property
    def failure_code(self) -> str: ...
    @property
    def failure_message(self) -> str: ...


def transaction_pb(
    tx: TxRecord,
    direction: Direction | None,
    postings: Sequence[tuple[str, int, str]] | None = None,
    receipt: ReceiptRecord | None = None,
) -> pb.Transaction:
    msg = pb.Transaction()
    fill_transaction(msg, tx, tx.seq, direction, postings, receipt)
    return msg


def fill_transaction(
    msg: pb.Transaction,
    tx: TxFields,
    seq: int,
    direction: Direction | None,
    postings: Sequence[tuple[str, int, str]] | None = None,
    receipt: ReceiptRecord | None = None,
) -> None:
    """Write `tx` into `msg` (an empty one, often a response's own field: filled in place,
    not built apart and copied in). `direction` is the viewer's: None (unspecified, no
    counterparty) when the viewer is neither payer nor payee (an admin or auditor looking
    at someone else's). `postings` are (account, amount, currency): PostingRecords or the
    rows just written."""
    msg.id = tx.id
    msg.seq = seq
    msg.kind = KIND_TO_PB[tx.kind]
    msg.status = STATUS_TO_PB[tx.status]
    msg.created_at_ms = tx.created_at_ms
    msg.from_handle = tx.from_handle
    msg.to_handle = tx.to_handle
    msg.amount_minor = tx.amount_minor
    msg.currency = tx.currency
    msg.memo = tx.memo
    if direction is not None:
        msg.direction = DIRECTION_TO_PB[direction]
        msg.counterparty = tx.to_handle if direction is Direction.OUT else tx.from_handle
    msg.failure_code = tx.failure_code
    msg.failure_message = tx.failure_message
    if postings:
        add = msg.postings.add
        for account, amount_minor, currency in postings:
            add(account=account, amount_minor=amount_minor, currency=currency)
    if receipt is not None:
        signed = msg.receipt
        signed.key_id = receipt.key_id
        signed.payload = receipt.payload
        signed.signature = receipt.signature


def stored_receipt(
    uow: UnitOfWork, tx: TxRecord, postings: list[PostingRecord]
) -> ReceiptRecord | None:
    """`tx`'s receipt: the signature the ledger keeps, over the payload rebuilt from `tx`
    and its `postings`."""
    found = uow.receipt_signature(tx.seq)
    if found is None:
        return None
    key_id, signature = found
    return ReceiptRecord(key_id, ledger_payload(tx, postings), signature)


def key_pb(key: KeyRecord) -> pb.DeviceKey:
    return pb.DeviceKey(
        key_id=key.key_id,
        public_key=key.public_key,
        created_at_ms=key.created_at_ms,
        revoked_at_ms=key.revoked_at_ms or 0,
    )
