"""`cpay verify`: re-derive balances from postings, check every transaction balances,
every completed transaction has a receipt whose signature verifies over the payload
rebuilt from its row and postings (so a changed amount, handle, memo or posting shows),
every transaction names existing users, and the audit chain is unbroken. Admins and
auditors check the whole ledger; others their own part.
"""

from __future__ import annotations

from collections.abc import Iterable

from cpay_engine.adapters.crypto import verify_signature
from cpay_engine.domain.audit import GENESIS, entry_hash
from cpay_engine.domain.model import TxStatus
from cpay_engine.domain.signing import receipt_input
from cpay_engine.service.ports import TxRecord, UnitOfWork, UserRecord
from cpay_engine.service.views import stored_receipt
from cpay_engine.wire import cpay_pb2 as pb


def verify_all(uow: UnitOfWork) -> pb.VerifyLedgerResponse:
    problems: list[str] = [
        f"transaction {tx_id} postings do not sum to zero"
        for tx_id in uow.unbalanced_transactions()
    ]
    problems += [
        f"transaction {tx_id} names a user who does not exist"
        for tx_id in uow.transactions_naming_unknown_users()
    ]
    sums = uow.posting_sums()
    accounts = uow.all_accounts()
    for a in accounts:
        if a.balance_minor != sums.get(a.id, 0):
            problems.append(
                f"account {a.name}: balance {a.balance_minor} "
                f"but postings sum to {sums.get(a.id, 0)}"
            )
        if a.balance_minor < 0 and not a.may_go_negative:
            problems.append(f"account {a.name} is negative ({a.balance_minor})")
    tx_count, receipt_count = _check_receipts(uow, uow.iter_transactions(None), problems)
    audit_count = _check_audit(uow, problems)
    return pb.VerifyLedgerResponse(
        scope="ledger",
        transactions_checked=tx_count,
        accounts_checked=len(accounts),
        receipts_checked=receipt_count,
        audit_entries_checked=audit_count,
        problems=problems,
    )


def verify_own(uow: UnitOfWork, user: UserRecord) -> pb.VerifyLedgerResponse:
    problems: list[str] = []
    sums = uow.posting_sums()
    accounts = uow.user_accounts(user.id)
    for a in accounts:
        if a.balance_minor != sums.get(a.id, 0):
            problems.append(
                f"your {a.currency} balance is {a.balance_minor} but postings sum to "
                f"{sums.get(a.id, 0)}"
            )
        if a.balance_minor < 0:
            problems.append(f"your {a.currency} balance is negative")
    tx_count, receipt_count = _check_receipts(uow, uow.iter_transactions(user.id), problems)
    return pb.VerifyLedgerResponse(
        scope="own",
        transactions_checked=tx_count,
        accounts_checked=len(accounts),
        receipts_checked=receipt_count,
        audit_entries_checked=0,
        problems=problems,
    )


def _check_receipts(
    uow: UnitOfWork, txs: Iterable[TxRecord], problems: list[str]
) -> tuple[int, int]:
    engine_keys = dict(uow.engine_keys())
    tx_count = receipt_count = 0
    for tx in list(txs):
        tx_count += 1
        postings = uow.postings(tx.seq)
        receipt = stored_receipt(uow, tx, postings)
        if tx.status is not TxStatus.COMPLETED:
            if postings:
                problems.append(f"transaction {tx.id} is {tx.status.value} but has postings")
            continue
        if receipt is None:
            problems.append(f"transaction {tx.id} is completed but has no receipt")
            continue
        receipt_count += 1
        public = engine_keys.get(receipt.key_id)
        if public is None:
            problems.append(f"receipt of {tx.id} is signed by unknown engine key {receipt.key_id}")
        elif not verify_signature(public, receipt.signature, receipt_input(receipt.payload)):
            problems.append(
                f"receipt of {tx.id} does not verify: the transaction or its postings "
                "changed after it was signed, or the signature did"
            )
    return tx_count, receipt_count


def _check_audit(uow: UnitOfWork, problems: list[str]) -> int:
    prev = GENESIS
    count = 0
    for seq, at_ms, actor, action, details, prev_hash, digest in uow.iter_audit():
        count += 1
        if prev_hash != prev:
            problems.append(f"audit entry {seq} does not link to the entry before it")
        if entry_hash(prev_hash, at_ms, actor, action, details) != digest:
            problems.append(f"audit entry {seq} was altered (hash mismatch)")
        prev = digest
    return count
