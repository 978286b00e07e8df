"""SqlUnitOfWork: the ledger's SQL, shared by the SQLite and PostgreSQL stores.

Statements are written once with `?` placeholders; a Dialect adapts them (psycopg
wants `%s`) and supplies what differs: row locks, the ledger sequence lock, which
driver errors mean "constraint violated", the balance move, and pipelining (PostgreSQL
sends a group of statements in one round trip where none needs the one before's
result; SQLite, in process, has no round trips to save).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, NamedTuple, Protocol

from cpay_engine.adapters.sql_filters import (
    CLOCK_SLACK_MS,
    NO_SEQ,
    Columns,
    filter_conditions,
    like_pattern,
)
from cpay_engine.domain.audit import GENESIS, entry_hash
from cpay_engine.domain.model import Direction, Role, TxKind, TxStatus
from cpay_engine.domain.query import HistoryFilter
from cpay_engine.errors import FailedPrecondition, InternalError
from cpay_engine.service.ports import (
    AccountRecord,
    AuditEntry,
    InviteRecord,
    KeyRecord,
    NewTransaction,
    PostingRecord,
    ReceiptRecord,
    TxRecord,
    UserRecord,
)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Dialect(Protocol):
    integrity_errors: tuple[type[BaseException], ...]

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Cursor: ...

    def move(self, debit_id: int, credit_id: int, amount_minor: int) -> bool:
        """Debit (only if the account may go negative or holds enough) and credit, with
        both rows locked in id order first; False, and nothing changed, if the debit is
        refused."""

    def pipeline(self) -> AbstractContextManager[Any]:
        """Statements inside may be sent together; reading a result sends what is queued."""

    def lock_ledger_sequence(self) -> None:
        """Serialize the assignment of transaction seq and audit entries with commit order."""

    def lock_name(self, name: str) -> None:
        """Serialize transactions that use the same name (a payment id) until they end."""

    def starts_with(self, column: str, prefix: str) -> tuple[str, tuple[Any, ...]]:
        """A condition (and its arguments) true where `column` starts with `prefix`,
        written so that the column's index can answer it."""

    def record_entry(self, entry: LedgerEntry) -> int | None:
        """Record `entry` in one round trip, under the ledger lock; its seq, or None where
        the backend has no such path (the caller then sends each statement)."""


class LedgerEntry(NamedTuple):
    """A transaction row (values in TX_INSERT order) and what is written with it."""

    tx: Sequence[Any]  # the receipt's key id and signature among them
    postings: Sequence[tuple[int, int, str]]  # account id, amount, currency
    parties: Sequence[tuple[str, str]]  # user id, direction
    audit: AuditEntry


TX_INSERT_COLUMNS = (
    "id, kind, status, created_at_ms, initiator_id, from_user_id, to_user_id, from_handle, "
    "to_handle, amount_minor, currency, memo, memo_folded, failure_code, failure_message, "
    "receipt_key_id, receipt_signature"
)


TX_INSERT = (  # the new row's seq comes back
    f"INSERT INTO transactions ({TX_INSERT_COLUMNS}) "
    f"VALUES ({', '.join('?' * len(TX_INSERT_COLUMNS.split(',')))}) RETURNING seq"
)


def tx_values(tx: NewTransaction, receipt: ReceiptRecord | None) -> tuple[Any, ...]:
    """A new transaction's values in TX_INSERT order. Only the receipt's signature and
    key id are stored: its payload is rebuilt from the row and its postings."""
    return (
        tx.id,
        tx.kind.value,
        tx.status.value,
        tx.created_at_ms,
        tx.initiator_id,
        tx.from_user_id,
        tx.to_user_id,
        tx.from_handle,
        tx.to_handle,
        tx.amount_minor,
        tx.currency,
        tx.memo,
        tx.memo.casefold(),
        tx.failure_code,
        tx.failure_message,
        receipt.key_id if receipt else None,
        receipt.signature if receipt else None,
    )


_TX_COLUMNS = (
    "t.seq, t.id, t.kind, t.status, t.created_at_ms, t.initiator_id, t.from_user_id, "
    "t.to_user_id, t.from_handle, t.to_handle, t.amount_minor, t.currency, t.memo, "
    "t.failure_code, t.failure_message"
)


def _tx(row: Sequence[Any], direction: str | None = None) -> TxRecord:
    return TxRecord(
        seq=row[0],
        id=row[1],
        kind=TxKind(row[2]),
        status=TxStatus(row[3]),
        created_at_ms=row[4],
        initiator_id=row[5],
        from_user_id=row[6],
        to_user_id=row[7],
        from_handle=row[8],
        to_handle=row[9],
        amount_minor=row[10],
        currency=row[11],
        memo=row[12],
        failure_code=row[13],
        failure_message=row[14],
        direction=Direction(direction) if direction else None,
    )


def _account(row: Sequence[Any]) -> AccountRecord:
    # id, name, user_id, currency, balance_minor, may_go_negative: _ACCOUNT_COLUMNS' order
    return AccountRecord(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


_ACCOUNT_COLUMNS = "id, name, user_id, currency, balance_minor, may_go_negative"
# Every payment's statements, built once (not an f-string per call).
_PAYMENT_ACCOUNTS = (
    f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user_id IN (?, ?) AND currency = ?"
)
_TX_BY_ID = f"SELECT {_TX_COLUMNS} FROM transactions t WHERE t.id = ?"


@functools.lru_cache(maxsize=64)
def _insert_sql(into: str, width: int, count: int, suffix: str) -> str:
    """INSERT INTO `into` VALUES with `count` rows of `width` placeholders, then `suffix`."""
    row = "(" + ", ".join("?" * width) + ")"
    return f"INSERT INTO {into} VALUES {', '.join([row] * count)}{suffix}"


class SqlUnitOfWork:
    def __init__(self, dialect: Dialect) -> None:
        self._c = dialect

    def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        return self._c.execute(sql, args).fetchone()

    # --- requests ----------------------------------------------------------------------

    def claim_payment_id(self, payment_id: str) -> TxRecord | None:
        """Lock the id until commit (a concurrent request with the same id waits, then
        replays), then look it up: one round trip on PostgreSQL."""
        with self._c.pipeline():
            self._c.lock_name("payment:" + payment_id)
            return self.find_transaction(payment_id)

    def record_nonce(
        self,
        key_id: str,
        nonce: bytes,
        expires_at_ms: int,
        now_ms: int,
        *,
        key_must_be_live: bool = False,
    ) -> bool:
        if random.random() < 0.01:  # amortized pruning of nonces outside the window
            self._c.execute("DELETE FROM nonces WHERE expires_at_ms < ?", (now_ms,))
        if key_must_be_live:
            cur = self._c.execute(
                "INSERT INTO nonces (key_id, nonce, expires_at_ms) SELECT ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM device_keys WHERE key_id = ? "
                "AND revoked_at_ms IS NULL) ON CONFLICT DO NOTHING",
                (key_id, nonce, expires_at_ms, key_id),
            )
        else:
            cur = self._c.execute(
                "INSERT INTO nonces (key_id, nonce, expires_at_ms) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (key_id, nonce, expires_at_ms),
            )
        return cur.rowcount == 1

    # --- users and keys ----------------------------------------------------------------

    def user_count(self) -> int:
        count: int = self._one("SELECT count(*) FROM users")[0]
        return count

    def get_user(self, user_id: str) -> UserRecord | None:
        row = self._one(
            "SELECT id, handle, role, created_at_ms FROM users WHERE id = ?", (user_id,)
        )
        return UserRecord(row[0], row[1], Role(row[2]), row[3]) if row else None

    def get_user_by_handle(self, handle: str) -> UserRecord | None:
        row = self._one(
            "SELECT id, handle, role, created_at_ms FROM users WHERE handle = ?", (handle,)
        )
        return UserRecord(row[0], row[1], Role(row[2]), row[3]) if row else None

    def insert_user(self, user: UserRecord) -> None:
        try:
            self._c.execute(
                "INSERT INTO users (id, handle, role, created_at_ms) VALUES (?, ?, ?, ?)",
                (user.id, user.handle, user.role.value, user.created_at_ms),
            )
        except self._c.integrity_errors:
            raise FailedPrecondition(
                f"the handle @{user.handle} is taken: choose another"
            ) from None

    def get_key(self, key_id: str) -> KeyRecord | None:
        row = self._one(
            "SELECT key_id, user_id, public_key, created_at_ms, revoked_at_ms "
            "FROM device_keys WHERE key_id = ?",
            (key_id,),
        )
        return KeyRecord(row[0], row[1], bytes(row[2]), row[3], row[4]) if row else None

    def get_key_and_owner(self, key_id: str) -> tuple[KeyRecord | None, UserRecord | None]:
        row = self._one(
            "SELECT k.key_id, k.user_id, k.public_key, k.created_at_ms, k.revoked_at_ms, "
            "u.id, u.handle, u.role, u.created_at_ms "
            "FROM device_keys k JOIN users u ON u.id = k.user_id WHERE k.key_id = ?",
            (key_id,),
        )
        if row is None:
            return None, None
        key = KeyRecord(row[0], row[1], bytes(row[2]), row[3], row[4])
        return key, UserRecord(row[5], row[6], Role(row[7]), row[8])

    def insert_key(self, key: KeyRecord) -> None:
        try:
            self._c.execute(
                "INSERT INTO device_keys (key_id, user_id, public_key, created_at_ms) "
                "VALUES (?, ?, ?, ?)",
                (key.key_id, key.user_id, key.public_key, key.created_at_ms),
            )
        except self._c.integrity_errors:
            raise FailedPrecondition(
                f"the key {key.key_id} is already registered: generate a new key"
            ) from None

    def list_keys(self, user_id: str) -> list[KeyRecord]:
        rows = self._c.execute(
            "SELECT key_id, user_id, public_key, created_at_ms, revoked_at_ms FROM device_keys "
            "WHERE user_id = ? ORDER BY created_at_ms, key_id",
            (user_id,),
        )
        return [KeyRecord(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]

    def revoke_key(self, key_id: str, at_ms: int) -> None:
        self._c.execute(
            "UPDATE device_keys SET revoked_at_ms = ? WHERE key_id = ? AND revoked_at_ms IS NULL",
            (at_ms, key_id),
        )

    def engine_keys(self) -> list[tuple[str, bytes]]:
        rows = self._c.execute("SELECT key_id, public_key FROM engine_keys ORDER BY created_at_ms")
        return [(r[0], bytes(r[1])) for r in rows]

    def insert_engine_key(self, key_id: str, public_key: bytes, at_ms: int) -> None:
        self._c.execute(
            "INSERT INTO engine_keys (key_id, public_key, created_at_ms) VALUES (?, ?, ?)",
            (key_id, public_key, at_ms),
        )

    def list_users(self) -> list[UserRecord]:
        rows = self._c.execute("SELECT id, handle, role, created_at_ms FROM users ORDER BY handle")
        return [UserRecord(r[0], r[1], Role(r[2]), r[3]) for r in rows]

    def insert_invite(self, invite: InviteRecord) -> None:
        self._c.execute(
            "INSERT INTO invites (code_hash, role, created_by, created_at_ms, expires_at_ms, "
            "for_user_id) VALUES (?, ?, ?, ?, ?, ?)",
            (
                invite.code_hash,
                invite.role.value,
                invite.created_by,
                invite.created_at_ms,
                invite.expires_at_ms,
                invite.for_user_id,
            ),
        )

    def get_invite(self, code_hash: str) -> InviteRecord | None:
        row = self._one(
            "SELECT code_hash, role, created_by, created_at_ms, expires_at_ms, used_at_ms, "
            "for_user_id FROM invites WHERE code_hash = ?",
            (code_hash,),
        )
        if row is None:
            return None
        return InviteRecord(row[0], Role(row[1]), row[2], row[3], row[4], row[5], row[6])

    def use_invite(self, code_hash: str, user_id: str, at_ms: int) -> bool:
        cur = self._c.execute(
            "UPDATE invites SET used_at_ms = ?, used_by = ? "
            "WHERE code_hash = ? AND used_at_ms IS NULL AND expires_at_ms > ?",
            (at_ms, user_id, code_hash, at_ms),
        )
        return cur.rowcount == 1

    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._c.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # --- ledger ------------------------------------------------------------------------

    def account(self, user_id: str | None, currency: str, *, create: bool) -> AccountRecord | None:
        row = self._one(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user_id = ? AND currency = ?",
            (user_id, currency),
        )
        if row or not create:
            return _account(row) if row else None
        name = f"user:{user_id}:{currency}"
        # A concurrent first payment may create it between our SELECT and INSERT.
        self._c.execute(
            "INSERT INTO accounts (name, user_id, currency) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (name, user_id, currency),
        )
        row = self._one(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE name = ?", (name,))
        return _account(row)

    def payment_accounts(
        self, payer_id: str, payee_id: str, currency: str
    ) -> tuple[AccountRecord | None, AccountRecord]:
        payer: AccountRecord | None = None
        payee: AccountRecord | None = None
        for row in self._c.execute(_PAYMENT_ACCOUNTS, (payer_id, payee_id, currency)):
            if row[2] == payer_id:
                payer = _account(row)
            if row[2] == payee_id:
                payee = _account(row)
        if payee is None:  # the payee's first payment in this currency
            payee = self.account(payee_id, currency, create=True)
        assert payee is not None
        return payer, payee

    def system_account(self, name: str, currency: str, may_go_negative: bool) -> AccountRecord:
        full = f"{name}:{currency}"
        row = self._one(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE name = ?", (full,))
        if row:
            return _account(row)
        self._c.execute(
            "INSERT INTO accounts (name, user_id, currency, may_go_negative) "
            "VALUES (?, NULL, ?, ?) ON CONFLICT DO NOTHING",
            (full, currency, may_go_negative),
        )
        row = self._one(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE name = ?", (full,))
        return _account(row)

    def user_accounts(self, user_id: str) -> list[AccountRecord]:
        rows = self._c.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM accounts WHERE user_id = ? ORDER BY currency",
            (user_id,),
        )
        return [_account(r) for r in rows]

    def move(self, debit: AccountRecord, credit: AccountRecord, amount_minor: int) -> bool:
        return self._c.move(debit.id, credit.id, amount_minor)

    def record_transaction(
        self,
        tx: NewTransaction,
        postings: Sequence[tuple[int, int, str]],
        receipt: ReceiptRecord | None,
        parties: Sequence[tuple[str, Direction]],
        audit: AuditEntry,
    ) -> int:
        # From the ledger lock to COMMIT every other payment waits. PostgreSQL records
        # the whole entry in one round trip (record_entry); otherwise, in a pipeline:
        # lock + transaction row; the rows that need its seq + the audit head; the entry.
        entry = LedgerEntry(
            tx_values(tx, receipt),
            postings,
            [(user_id, direction.value) for user_id, direction in parties],
            audit,
        )
        try:
            seq = self._c.record_entry(entry)
            if seq is None:
                seq = self._record_statement_by_statement(entry)
        except self._c.integrity_errors as exc:
            raise InternalError(f"could not record transaction {tx.id}: {exc}") from None
        return seq

    def _record_statement_by_statement(self, entry: LedgerEntry) -> int:
        tx, postings, parties, audit = entry
        with self._c.pipeline():
            self._c.lock_ledger_sequence()
            seq = int(self._one(TX_INSERT, tx)[0])
            self._insert_postings(seq, postings)
            self._insert_rows(
                "tx_parties (user_id, seq, direction)",
                [(user_id, seq, direction) for user_id, direction in parties],
                " ON CONFLICT DO NOTHING",
            )
            self.append_audit(audit.at_ms, audit.actor, audit.action, audit.details)
        return seq

    def _insert_rows(self, into: str, rows: Sequence[Sequence[Any]], suffix: str = "") -> None:
        """One multi-row INSERT (one round trip on PostgreSQL), not one statement per row."""
        if rows:
            args = [value for row in rows for value in row]
            self._c.execute(_insert_sql(into, len(rows[0]), len(rows), suffix), args)

    def _insert_postings(self, seq: int, postings: Sequence[tuple[int, int, str]]) -> None:
        self._insert_rows(
            "postings (seq, idx, account_id, amount_minor, currency)",
            [(seq, idx, *posting) for idx, posting in enumerate(postings)],
        )

    def find_transaction(self, tx_id: str) -> TxRecord | None:
        row = self._one(_TX_BY_ID, (tx_id,))
        return _tx(row) if row else None

    def find_own_transactions_by_prefix(
        self, user_id: str, prefix: str, limit: int
    ) -> list[TxRecord]:
        # The ids through their unique index (the dialect's prefix match), then only the
        # user's own (tx_parties' key). CROSS JOIN keeps SQLite's planner from walking
        # all of the user's parties instead; PostgreSQL plans it as any join.
        match, args = self._c.starts_with("t.id", prefix)
        rows = self._c.execute(
            f"SELECT {_TX_COLUMNS}, p.direction FROM transactions t CROSS JOIN tx_parties p "
            f"WHERE {match} AND p.seq = t.seq AND p.user_id = ? ORDER BY t.seq DESC LIMIT ?",
            (*args, user_id, limit),
        )
        return [_tx(row[:15], row[15]) for row in rows]

    def party_tx_id(self, user_id: str, seq: int) -> str:
        """The id of `user_id`'s transaction at `seq`, "" if they have none there."""
        row = self._one(
            "SELECT t.id FROM tx_parties p JOIN transactions t ON t.seq = p.seq "
            "WHERE p.user_id = ? AND p.seq = ?",
            (user_id, seq),
        )
        return str(row[0]) if row else ""

    def party_direction(self, user_id: str, seq: int) -> Direction | None:
        row = self._one(
            "SELECT direction FROM tx_parties WHERE user_id = ? AND seq = ?", (user_id, seq)
        )
        return Direction(row[0]) if row else None

    def postings(self, seq: int) -> list[PostingRecord]:
        rows = self._c.execute(
            "SELECT coalesce('@' || u.handle || ':' || a.currency, a.name), p.amount_minor, "
            "p.currency FROM postings p JOIN accounts a ON a.id = p.account_id "
            "LEFT JOIN users u ON u.id = a.user_id WHERE p.seq = ? ORDER BY p.idx",
            (seq,),
        )
        return [PostingRecord(r[0], r[1], r[2]) for r in rows]

    def receipt_signature(self, seq: int) -> tuple[str, bytes] | None:
        row = self._one(
            "SELECT receipt_key_id, receipt_signature FROM transactions WHERE seq = ?", (seq,)
        )
        return (row[0], bytes(row[1])) if row and row[1] is not None else None

    def history(
        self,
        user_id: str,
        f: HistoryFilter,
        before_seq: int,
        after_seq: int,
        limit: int,
        ascending: bool = False,
    ) -> list[TxRecord]:
        counterparty = "(CASE p.direction WHEN 'out' THEN t.to_handle ELSE t.from_handle END)"
        columns = Columns(
            seq="p.seq",
            counterparty=counterparty,
            currency="t.currency",
            status="t.status",
            direction="p.direction",
            amount="t.amount_minor",
            created_at="t.created_at_ms",
        )
        window = None
        if f.since_ms or f.until_ms:
            low = self._stamp_crossing(f.since_ms - CLOCK_SLACK_MS)[0] if f.since_ms else 0
            high = self._stamp_crossing(f.until_ms + CLOCK_SLACK_MS)[1] if f.until_ms else NO_SEQ
            window = (low, high)
        conditions, args = filter_conditions(
            f, columns, before_seq=before_seq, after_seq=after_seq, seq_window=window
        )
        where = ["p.user_id = ?", *conditions]
        args.insert(0, user_id)
        for word in f.words:
            # Folded in Python on both sides: LIKE alone ignores case for ASCII only
            # (SQLite) or not at all (PostgreSQL); handles are lower-case already.
            where.append(f"(t.memo_folded LIKE ? ESCAPE '\\' OR {counterparty} LIKE ? ESCAPE '\\')")
            pattern = like_pattern(word.casefold())
            args.extend([pattern, pattern])
        order = "ASC" if ascending else "DESC"
        sql = (
            f"SELECT {_TX_COLUMNS}, p.direction FROM tx_parties p "
            f"JOIN transactions t ON t.seq = p.seq WHERE {' AND '.join(where)} "
            f"ORDER BY p.seq {order} LIMIT ?"
        )
        args.append(limit)
        return [_tx(row[:15], row[15]) for row in self._c.execute(sql, args)]

    def _stamp_crossing(self, at_ms: int) -> tuple[int, int]:
        """(a, b), a < b: a is 0 or a transaction stamped before `at_ms`, b is NO_SEQ or
        one stamped at or after it, found by bisecting seq with point reads (about
        log2(rows) of them) instead of keeping an index on created_at_ms.

        Stamps rise with seq except where a clock stepped back, so callers pass `at_ms`
        widened by CLOCK_SLACK_MS: every row at or below a is then stamped before the
        window's start, every row at or above b after its end. Seq may have gaps."""
        # two subqueries: SQLite reads min() or max() off the key only when it is alone
        ends = self._one(
            "SELECT (SELECT min(seq) FROM transactions), (SELECT max(seq) FROM transactions)"
        )
        if ends is None or ends[0] is None:
            return 0, NO_SEQ
        a, b = 0, NO_SEQ
        lo, hi = int(ends[0]) - 1, int(ends[1]) + 1  # rows with lo < seq < hi are unread
        while hi - lo > 1:
            mid = (lo + hi) // 2
            row = self._one(
                "SELECT seq, created_at_ms FROM transactions WHERE seq >= ? AND seq < ? "
                "ORDER BY seq LIMIT 1",
                (mid, hi),
            )
            if row is None:  # no rows in [mid, hi): look below mid
                hi = mid
            elif row[1] < at_ms:
                a = lo = int(row[0])
            else:
                b = hi = int(row[0])
        return a, b

    # --- audit -------------------------------------------------------------------------

    def append_audit(self, at_ms: int, actor: str, action: str, details: str) -> None:
        self._c.lock_ledger_sequence()
        row = self._one("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        prev = row[0] if row else GENESIS
        self._c.execute(
            "INSERT INTO audit_log (at_ms, actor, action, details, prev_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (at_ms, actor, action, details, prev, entry_hash(prev, at_ms, actor, action, details)),
        )

    # --- verification ------------------------------------------------------------------

    def iter_transactions(self, user_id: str | None) -> Iterator[TxRecord]:
        if user_id is None:
            rows = self._c.execute(f"SELECT {_TX_COLUMNS} FROM transactions t ORDER BY t.seq")
        else:
            rows = self._c.execute(
                f"SELECT {_TX_COLUMNS} FROM tx_parties p JOIN transactions t ON t.seq = p.seq "
                "WHERE p.user_id = ? ORDER BY t.seq",
                (user_id,),
            )
        for row in rows:
            yield _tx(row)

    def all_accounts(self) -> list[AccountRecord]:
        return [_account(r) for r in self._c.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM accounts")]

    def posting_sums(self) -> dict[int, int]:
        rows = self._c.execute("SELECT account_id, sum(amount_minor) FROM postings GROUP BY 1")
        return {r[0]: r[1] for r in rows}

    def unbalanced_transactions(self) -> list[str]:
        rows = self._c.execute(
            "SELECT t.id FROM postings p JOIN transactions t ON t.seq = p.seq "
            "GROUP BY p.seq, p.currency, t.id HAVING sum(p.amount_minor) <> 0"
        )
        return [r[0] for r in rows]

    def transactions_naming_unknown_users(self) -> list[str]:
        """Ids of transactions whose initiator, payer or payee is not a user (PostgreSQL
        keeps no foreign keys there: see its migration 6)."""
        known = "EXISTS (SELECT 1 FROM users u WHERE u.id = {})".format
        rows = self._c.execute(
            f"SELECT t.id FROM transactions t WHERE NOT {known('t.initiator_id')} "
            f"OR (t.from_user_id IS NOT NULL AND NOT {known('t.from_user_id')}) "
            f"OR (t.to_user_id IS NOT NULL AND NOT {known('t.to_user_id')}) ORDER BY t.seq"
        )
        return [r[0] for r in rows]

    def iter_audit(self) -> Iterator[tuple[int, int, str, str, str, str, str]]:
        yield from self._c.execute(
            "SELECT seq, at_ms, actor, action, details, prev_hash, hash FROM audit_log ORDER BY seq"
        )
