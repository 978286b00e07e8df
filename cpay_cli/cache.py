"""The remote-mode history cache, and CachingEngine, which keeps it in step.

Per profile, a SQLite file managed with sqlite-utils: transactions upserted by id
(with postings and receipts, so they verify offline), an incremental sync cursor,
and full-text search over memo and counterparty. When the server cannot be reached,
history and show answer from the cache and say so (with its age) on stderr.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.adapters.sql_filters import (
    Columns,
    filter_conditions,
    like_pattern,
    prefix_range,
)
from cpay_engine.api import (
    AccountView,
    BalanceView,
    EngineKeyView,
    EnrollmentView,
    HistoryPage,
    InviteView,
    KeyView,
    PaymentResult,
    PaymentsAPI,
    PostingView,
    ReceiptView,
    RotationResult,
    TransactionView,
    UserListing,
    UserView,
    VerifyReport,
)
from cpay_engine.domain.model import (
    MIN_ID_PREFIX,
    Direction,
    Role,
    TxKind,
    TxStatus,
    the_one_starting_with,
)
from cpay_engine.domain.query import (
    FIRST,
    HistoryFilter,
    check_limit,
    decode_cursor,
    encode_cursor,
    validated,
)
from cpay_engine.errors import OutcomeUnknown, Unavailable

T = TypeVar("T")

SYNC_PAGE = 500
CACHE_COLUMNS = Columns(
    seq="seq",
    counterparty="counterparty",
    currency="currency",
    status="status",
    direction="direction",
    amount="amount_minor",
    created_at="created_at_ms",
)
TABLE = "transactions"
SERVER_FORGOT = (
    "holds rows the server no longer has (its database was restored from an older backup?)"
)
BUSY_TIMEOUT_S = 30.0
HELD_WAIT_S = 10.0  # how long _while_held keeps trying (0.01 s doubling, at most 0.25 s)
# What SQLite says when another process holds the file or is creating the same table.
HELD = ("locked", "busy", "already exists")


def _while_held(work: Callable[[], object]) -> None:
    """`work`, tried again while another `cpay` process of the profile holds the file:
    SQLite answers "database is locked" at once, busy timeout or not, when the WAL is
    being set up or a snapshot is stale; two first runs race to create the schema."""
    deadline = time.monotonic() + HELD_WAIT_S
    pause = 0.01
    while True:
        try:
            work()
            return
        except sqlite3.OperationalError as exc:
            held = any(sign in str(exc) for sign in HELD)
            if not held or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _damage(error: sqlite3.Error) -> bool:
    """Whether SQLite's error says the file is damaged inside (not busy, locked or full):
    malformed pages, or text that is not UTF-8."""
    if isinstance(error, sqlite3.OperationalError):
        return "decode" in str(error)
    return isinstance(error, sqlite3.DatabaseError) and not isinstance(
        error, sqlite3.IntegrityError
    )


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _ignore(_message: str) -> None:
    return None


class HistoryCache:
    def __init__(
        self, path: Path, *, warn: Callable[[str], None] = _ignore, wallet: str = ""
    ) -> None:
        """`wallet` names the wallet the cache mirrors (the profile's pinned engine keys):
        a cache of another wallet, one from an older CPay, or a damaged file is moved
        aside (kept, not deleted) and a new one started: the cache only mirrors the
        server's history, so it refills at the next sync."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path, self.wallet, self._warn = path, wallet, warn
        # One connection shared by the dashboard's worker threads, serialized by the lock.
        self.lock = threading.RLock()
        try:
            self.db = self._open(path)
        except sqlite3.OperationalError:
            raise  # busy or racing with another process: nothing wrong with the file
        except sqlite3.DatabaseError as exc:  # not a database, or a malformed one
            self._move_aside(f"was damaged ({exc})", "damaged")
            self.db = self._open(path)
        # Read while other processes may still be creating the schema or setting up WAL:
        # SQLite says "locked" at once then (see _while_held).
        verdict: list[str] = []
        _while_held(lambda: verdict.append(self._stale()))
        stale = verdict[-1]
        if stale:
            self.db.close()
            self._move_aside(stale, "old")
            self.db = self._open(path)
        self._stamp()

    def _stamp(self) -> None:
        """Record which wallet this cache mirrors (read back by _stale)."""
        if self.wallet:
            row = {"key": "wallet", "value": self.wallet}
            self._write(lambda: self.db.table("meta").upsert(row, pk="key"))

    def _stale(self) -> str:
        """Why the open file cannot serve as this cache ('' when it can)."""
        if "memo_folded" not in self.db.table(TABLE).columns_dict:
            return "is from an older CPay"
        wallet = self._meta("wallet")
        if self.wallet and wallet and wallet != self.wallet:
            return (
                "mirrors another wallet (the server behind this profile was set up anew, or "
                "the profile enrolled again)"
            )
        return ""

    def _move_aside(self, why: str, label: str) -> None:
        aside = self.path.with_name(f"{self.path.name}.{label}-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            source = Path(f"{self.path}{suffix}")
            if source.exists():
                source.rename(f"{aside}{suffix}")
        self._warn(
            f"warning: the history cache {self.path} {why}; kept it as {aside} and started a "
            "new one, which refills from the server"
        )

    def reset(self, error: sqlite3.Error) -> None:
        """The open file turned out damaged inside (SQLite says so only when it reads the
        damaged page): move it aside and start a new one."""
        self.start_over(f"is damaged ({error})", "damaged")

    def start_over(self, why: str, label: str = "old") -> None:
        """Move this cache aside (saying `why`) and start a new, empty one."""
        with self.lock:
            self.db.close()
            self._move_aside(why, label)
            self.db = self._open(self.path)
            self._stamp()

    @staticmethod
    def _open(path: Path) -> sqlite_utils.Database:
        # Several `cpay` processes of one profile share the file: a writer waits for the
        # others (timeout) instead of failing at once with "database is locked".
        fresh = not path.exists()
        conn = sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        try:
            if fresh:
                path.chmod(0o600)  # every memo and counterparty of the user: theirs only
            db = sqlite_utils.Database(conn)
            db.execute("PRAGMA journal_mode = WAL")
            _while_held(lambda: HistoryCache._create_schema(db))
        except BaseException:
            conn.close()
            raise
        return db

    @staticmethod
    def _create_schema(db: sqlite_utils.Database) -> None:
        table = db.table(TABLE)
        if not table.exists():
            table.create(
                {
                    "id": str,
                    "seq": int,
                    "kind": str,
                    "status": str,
                    "created_at_ms": int,
                    "from_handle": str,
                    "to_handle": str,
                    "amount_minor": int,
                    "currency": str,
                    "memo": str,
                    "memo_folded": str,  # memo.casefold(): the engine's search folds alike
                    "direction": str,
                    "counterparty": str,
                    "failure_code": str,
                    "failure_message": str,
                    "postings": str,
                    "receipt_key_id": str,
                    "receipt_payload": bytes,
                    "receipt_signature": bytes,
                },
                pk="id",
            )
            table.create_index(["seq"], unique=True)
            # trigram: substring matches, like the server's history search, over the text
            # folded as the engine folds it (casefold: ß = ss, É = é)
            table.enable_fts(
                ["memo_folded", "counterparty"], create_triggers=True, tokenize="trigram"
            )
        db.table("meta").create({"key": str, "value": str}, pk="key", if_not_exists=True)
        table.create_index(["created_at_ms"], if_not_exists=True)

    def close(self) -> None:
        self.db.close()

    # --- sync state --------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return str(row[0]) if row else None

    @property
    def sync_cursor(self) -> str:
        return self._meta("sync_cursor") or ""

    @property
    def synced_at_ms(self) -> int:
        return int(self._meta("synced_at_ms") or 0)

    def mark_synced(self, cursor: str, at_ms: int) -> None:
        rows = [
            {"key": "sync_cursor", "value": cursor},
            {"key": "synced_at_ms", "value": str(at_ms)},
        ]
        self._write(lambda: self.db.table("meta").upsert_all(rows, pk="key"))

    def _write(self, write: Callable[[], object]) -> None:
        def locked() -> None:
            with self.lock:
                write()

        _while_held(locked)

    def remember_account(self, account: AccountView) -> None:
        doc = {
            "user_id": account.user_id,
            "handle": account.handle,
            "role": account.role.value,
            "key_id": account.key_id,
            "engine_keys": [[k.key_id, k.public_key.hex()] for k in account.engine_keys],
        }
        row = {"key": "account", "value": json.dumps(doc)}
        self._write(lambda: self.db.table("meta").upsert(row, pk="key"))

    def knows_account(self) -> bool:
        return self._meta("account") is not None

    def account(self) -> AccountView | None:
        """The account as the server last described it (for the dashboard offline)."""
        text = self._meta("account")
        if text is None:
            return None
        doc = json.loads(text)
        return AccountView(
            user_id=doc["user_id"],
            handle=doc["handle"],
            role=Role(doc["role"]),
            key_id=doc["key_id"],
            engine_keys=tuple(EngineKeyView(k, bytes.fromhex(v)) for k, v in doc["engine_keys"]),
        )

    # --- rows --------------------------------------------------------------------------

    def upsert(self, txs: Iterable[TransactionView]) -> None:
        rows = [_row(t) for t in txs]
        if rows:
            self._write(lambda: self.db.table(TABLE).upsert_all(rows, pk="id"))

    def id_at(self, seq: int) -> str | None:
        with self.lock:
            row = self.db.execute(f"SELECT id FROM {TABLE} WHERE seq = ?", [seq]).fetchone()
        return str(row[0]) if row else None

    def get(self, tx_id: str) -> TransactionView | None:
        """By id or, as the engine takes them, by a unique start of one (MIN_ID_PREFIX
        characters at least)."""
        with self.lock:
            cursor = self.db.execute(f"SELECT * FROM {TABLE} WHERE id = ?", [tx_id])
            rows = cursor.fetchall()
            if not rows and len(tx_id) >= MIN_ID_PREFIX:
                cursor = self.db.execute(
                    f"SELECT * FROM {TABLE} WHERE id >= ? AND id < ? LIMIT 2",
                    list(prefix_range(tx_id)),
                )
                rows = cursor.fetchall()
            columns = [d[0] for d in cursor.description]
        row = the_one_starting_with(tx_id, rows)
        return None if row is None else _view(dict(zip(columns, row, strict=True)))

    def page(
        self, f: HistoryFilter, before_seq: int, limit: int, *, after_seq: int | None = None
    ) -> list[TransactionView]:
        """Newest first below `before_seq`; or, with `after_seq`, oldest first above it."""
        conditions, args = filter_conditions(
            f, CACHE_COLUMNS, before_seq=before_seq, after_seq=after_seq
        )
        where = ["1 = 1", *conditions]
        for word in (w.casefold() for w in f.words):
            if len(word) >= 3:  # the trigram index answers these
                where.append(f"rowid IN (SELECT rowid FROM {TABLE}_fts WHERE {TABLE}_fts MATCH ?)")
                args.append('"' + word.replace('"', '""') + '"')
            else:
                where.append("(memo_folded LIKE ? ESCAPE '\\' OR counterparty LIKE ? ESCAPE '\\')")
                args.extend([like_pattern(word), like_pattern(word)])
        args.append(limit)
        order = "ASC" if after_seq is not None else "DESC"
        sql = f"SELECT * FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY seq {order} LIMIT ?"
        with self.lock:
            cursor = self.db.execute(sql, args)
            columns = [d[0] for d in cursor.description]
            rows = cursor.fetchall()
        return [_view(dict(zip(columns, row, strict=True))) for row in rows]


def _row(t: TransactionView) -> dict[str, Any]:
    return {
        "id": t.id,
        "seq": t.seq,
        "kind": t.kind.value,
        "status": t.status.value,
        "created_at_ms": t.created_at_ms,
        "from_handle": t.from_handle,
        "to_handle": t.to_handle,
        "amount_minor": t.amount_minor,
        "currency": t.currency,
        "memo": t.memo,
        "memo_folded": t.memo.casefold(),
        "direction": t.direction.value if t.direction else "",
        "counterparty": t.counterparty,
        "failure_code": t.failure_code,
        "failure_message": t.failure_message,
        "postings": json.dumps([[p.account, p.amount_minor, p.currency] for p in t.postings]),
        "receipt_key_id": t.receipt.key_id if t.receipt else "",
        "receipt_payload": t.receipt.payload if t.receipt else b"",
        "receipt_signature": t.receipt.signature if t.receipt else b"",
    }


def _view(r: dict[str, Any]) -> TransactionView:
    receipt = (
        ReceiptView(r["receipt_key_id"], bytes(r["receipt_payload"]), bytes(r["receipt_signature"]))
        if r["receipt_key_id"]
        else None
    )
    return TransactionView(
        id=r["id"],
        seq=r["seq"],
        kind=TxKind(r["kind"]),
        status=TxStatus(r["status"]),
        created_at_ms=r["created_at_ms"],
        from_handle=r["from_handle"],
        to_handle=r["to_handle"],
        amount_minor=r["amount_minor"],
        currency=r["currency"],
        memo=r["memo"],
        direction=Direction(r["direction"]) if r["direction"] else None,
        counterparty=r["counterparty"],
        failure_code=r["failure_code"] or "",
        failure_message=r["failure_message"] or "",
        postings=tuple(PostingView(a, m, c) for a, m, c in json.loads(r["postings"] or "[]")),
        receipt=receipt,
    )


class CachingEngine:
    """PaymentsAPI over a remote engine, answering history from the synced cache."""

    def __init__(
        self,
        remote: PaymentsAPI,
        cache: HistoryCache,
        *,
        warn: Callable[[str], None],
        clock: Callable[[], int] = _now_ms,
    ) -> None:
        self.remote = remote
        self.cache = cache
        self.warn = warn  # a front end may route warnings elsewhere (the dashboard's toasts)
        self._clock = clock
        self.offline = False

    @property
    def key_id(self) -> str:
        return self.remote.key_id

    def close(self) -> None:
        self.cache.close()
        self.remote.close()

    def sync(self) -> bool:
        """Fetch what is new since the cursor. False (with a warning) when unreachable."""
        cursor = self.cache.sync_cursor or FIRST
        try:
            while True:
                page = self.remote.history(
                    limit=SYNC_PAGE, after_cursor=cursor, include_details=True
                )
                if self._started_over(cursor, page.after_id):
                    cursor = FIRST
                    continue
                if not self._cache_write(self.cache.upsert, page.transactions):
                    return False
                cursor = page.sync_cursor or cursor
                if len(page.transactions) < SYNC_PAGE:
                    break
        except (Unavailable, OutcomeUnknown) as error:
            self._went_offline(error)
            return False
        if not self.cache.knows_account():  # for the dashboard offline, once
            with contextlib.suppress(Unavailable, OutcomeUnknown):
                self.account()
        return self._cache_write(self.cache.mark_synced, cursor, self._clock())

    def _started_over(self, cursor: str, after_id: str | None) -> bool:
        """Whether the cache was started again: the server's transaction at the cursor
        (after_id; None from a server that does not say) is not the one this cache holds
        there (the server's database was restored from an older backup), or the cache
        turned out damaged where it was read."""
        if after_id is None or cursor == FIRST:
            return False
        try:
            mine = self.cache.id_at(decode_cursor(cursor))
        except sqlite3.DatabaseError as error:
            if not _damage(error):
                raise
            self.cache.reset(error)
            return True
        if mine is None or mine == after_id:
            return False
        self.cache.start_over(SERVER_FORGOT)
        return True

    def _cache_write(self, write: Callable[..., None], *args: Any) -> bool:
        """The cache only mirrors the server: a write it cannot make (the file busy past
        the timeout, a full disk) is a warning, never the command's failure, above all
        after the server has answered for money. A damaged file is replaced."""
        try:
            write(*args)
        except sqlite3.IntegrityError:  # a row the server gave a seq a cached row holds
            self.cache.start_over(SERVER_FORGOT)
            return False
        except sqlite3.Error as exc:
            if _damage(exc):  # refills from the server
                self.cache.reset(exc)
                return False
            self.warn(
                f"warning: the history cache was not updated ({exc}); it catches up next time"
            )
            return False
        return True

    def _healing(self, read: Callable[[], T]) -> T:
        """`read` from the cache; if the file turns out damaged inside, it is replaced,
        refilled from the server when it can be reached, and read again."""
        try:
            return read()
        except sqlite3.DatabaseError as error:
            if not _damage(error):  # busy, locked: nothing wrong with the file
                raise
            self.cache.reset(error)
            if not self.offline:
                self.sync()
            return read()

    def _went_offline(self, error: Exception) -> None:
        self.offline = True
        synced = self.cache.synced_at_ms
        age = "never synced" if not synced else f"last synced {_age(self._clock() - synced)} ago"
        self.warn(f"warning: {error}; showing the offline cache ({age})")

    def history(
        self,
        *,
        limit: int = 50,
        before_cursor: str = "",
        after_cursor: str = "",
        filter: HistoryFilter | None = None,
        include_details: bool = False,  # noqa: ARG002 - cached rows always carry details
    ) -> HistoryPage:
        limit = check_limit(limit)
        f = validated(filter or HistoryFilter())
        if not before_cursor and not self.offline:
            self.sync()
        if after_cursor:  # oldest first above the cursor, as the server answers
            after = decode_cursor(after_cursor)
            rows = self._healing(lambda: self.cache.page(f, 0, limit, after_seq=after))
            newest = encode_cursor(rows[-1].seq) if rows else after_cursor
            return HistoryPage(tuple(rows), newest if len(rows) == limit else "", newest)
        before = decode_cursor(before_cursor)
        rows = self._healing(lambda: self.cache.page(f, before, limit))
        next_cursor = encode_cursor(rows[-1].seq) if len(rows) == limit else ""
        return HistoryPage(tuple(rows), next_cursor, self.cache.sync_cursor)

    def transaction(self, tx_id: str) -> TransactionView:
        try:
            tx = self.remote.transaction(tx_id)
        except (Unavailable, OutcomeUnknown) as error:
            cached = self._healing(lambda: self.cache.get(tx_id))
            if cached is None:
                raise
            self._went_offline(error)
            return cached
        self._remember(tx)
        return tx

    def pay(
        self, *, payment_id: str, recipient: str, amount_minor: int, currency: str, memo: str = ""
    ) -> PaymentResult:
        result = self.remote.pay(
            payment_id=payment_id,
            recipient=recipient,
            amount_minor=amount_minor,
            currency=currency,
            memo=memo,
        )
        self._remember(result.transaction)
        return result

    def _remember(self, tx: TransactionView) -> None:
        """Only the viewer's own transactions belong in its cached history (an admin's
        `show` of someone else's payment, or mint to someone else, do not)."""
        if tx.direction is not None:
            self._cache_write(self.cache.upsert, [tx])

    def mint(
        self, *, payment_id: str, recipient: str, amount_minor: int, currency: str, memo: str = ""
    ) -> PaymentResult:
        return self.remote.mint(
            payment_id=payment_id,
            recipient=recipient,
            amount_minor=amount_minor,
            currency=currency,
            memo=memo,
        )

    # --- plain delegation --------------------------------------------------------------

    def account(self) -> AccountView:
        """The server's answer; offline, the one it last gave (the dashboard opens on it
        and shows the cached history)."""
        try:
            account = self.remote.account()
        except (Unavailable, OutcomeUnknown) as error:
            cached = self.cache.account()
            if cached is None:
                raise
            self._went_offline(error)
            return cached
        if account != self.cache.account():
            self._cache_write(self.cache.remember_account, account)
        return account

    def balances(self, currency: str = "") -> list[BalanceView]:
        return self.remote.balances(currency)

    def create_user(self, *, handle: str, role: Role, public_key: bytes) -> UserView:
        return self.remote.create_user(handle=handle, role=role, public_key=public_key)

    def list_keys(self) -> list[KeyView]:
        return self.remote.list_keys()

    def rotate_key(self, new_key: SigningKey) -> RotationResult:
        return self.remote.rotate_key(new_key)

    def revoke_key(self, key_id: str) -> KeyView:
        return self.remote.revoke_key(key_id)

    def verify_ledger(self) -> VerifyReport:
        return self.remote.verify_ledger()

    def create_invite(
        self, *, role: Role | None, ttl_seconds: int = 0, for_handle: str = ""
    ) -> InviteView:
        return self.remote.create_invite(role=role, ttl_seconds=ttl_seconds, for_handle=for_handle)

    def enroll(self, *, invite_code: str, handle: str) -> EnrollmentView:
        return self.remote.enroll(invite_code=invite_code, handle=handle)

    def list_users(self) -> list[UserListing]:
        return self.remote.list_users()


def _age(ms: int) -> str:
    seconds = max(ms // 1000, 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
