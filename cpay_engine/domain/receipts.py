"""Engine-signed receipts: the canonical payload and the check that it matches a transaction.

The payload is canonical JSON (sorted keys, no spaces, UTF-8); the engine signs
receipt_input(payload) with its own Ed25519 key. Clients store the exact bytes; the
ledger stores only the signature and rebuilds the payload (ledger_payload).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import NamedTuple, Protocol

from cpay_engine.domain.jsontext import compact_encoder

RECEIPT_VERSION = 1
_CANONICAL = compact_encoder(sort_keys=True, ensure_ascii=False)


class ReceiptFields(NamedTuple):
    """What a receipt says. Equal fields give an equal payload, and under one engine key
    an equal signature (Ed25519 is deterministic)."""

    tx_id: str
    kind: str
    status: str
    created_at_ms: int
    from_handle: str
    to_handle: str
    amount_minor: int
    currency: str
    memo: str
    postings: tuple[tuple[str, int, str], ...]  # account, amount, currency

    @classmethod
    def of(cls, tx: TransactionLike, postings: Iterable[tuple[str, int, str]]) -> ReceiptFields:
        return cls(
            tx.id,
            tx.kind.value,
            tx.status.value,
            tx.created_at_ms,
            tx.from_handle,
            tx.to_handle,
            tx.amount_minor,
            tx.currency,
            tx.memo,
            tuple(postings),
        )

    def payload(self) -> bytes:
        doc = {
            "v": RECEIPT_VERSION,
            "tx": self.tx_id,
            "kind": self.kind,
            "status": self.status,
            "created_at_ms": self.created_at_ms,
            "from": self.from_handle,
            "to": self.to_handle,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "memo": self.memo,
            "postings": [list(p) for p in self.postings],
        }
        return _CANONICAL(doc).encode()


def ledger_payload(tx: TransactionLike, postings: Sequence[PostingLike]) -> bytes:
    """The payload of `tx`'s receipt, rebuilt from the ledger: the bytes the engine
    signed when it recorded `tx` (the ledger keeps only the signature)."""
    return ReceiptFields.of(
        tx, ((p.account, p.amount_minor, p.currency) for p in postings)
    ).payload()


def receipt_mismatches(payload: bytes, expected: Mapping[str, object]) -> list[str]:
    """Fields where the signed payload disagrees with what the transaction says."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return ["payload is not JSON"]
    if not isinstance(doc, dict):
        return ["payload is not an object"]
    return [name for name, value in expected.items() if doc.get(name) != value]


class PostingLike(Protocol):
    @property
    def account(self) -> str: ...
    @property
    def amount_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...


class TransactionLike(Protocol):
    """What a receipt vouches for; ledger records and client views both have it."""

    @property
    def id(self) -> str: ...
    @property
    def kind(self) -> StrEnum: ...
    @property
    def status(self) -> StrEnum: ...
    @property
    def created_at_ms(self) -> int: ...
    @property
    def from_handle(self) -> str: ...
    @property
    def to_handle(self) -> str: ...
    @property
    def amount_minor(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def memo(self) -> str: ...


def expected_fields(
    tx: TransactionLike, postings: Sequence[PostingLike] | None
) -> dict[str, object]:
    """The payload fields a receipt of `tx` must carry (postings only when known)."""
    fields: dict[str, object] = {
        "tx": tx.id,
        "kind": tx.kind.value,
        "status": tx.status.value,
        "from": tx.from_handle,
        "to": tx.to_handle,
        "amount_minor": tx.amount_minor,
        "currency": tx.currency,
        "memo": tx.memo,
    }
    if postings is not None:
        fields["postings"] = [[p.account, p.amount_minor, p.currency] for p in postings]
    return fields
