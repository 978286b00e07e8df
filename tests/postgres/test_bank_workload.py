"""A bank workload on PostgreSQL: two server processes on one database, sixteen gRPC clients
sending random signed transfers between fifty users, replays of the same payment through the
other server, and a reader taking consistent snapshots all the while.

In every REPEATABLE READ snapshot money is conserved (the users hold exactly what was minted,
the treasury exactly minus that), no user balance is negative and every balance equals the sum
of its postings. Afterwards every acknowledged payment is one completed transaction with two
postings that move exactly its amount from payer to payee, every rejected payment is one failed
transaction without postings, replays moved nothing, and the final balances are the initial
ones plus the net of the acknowledged payments.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

import psycopg
import pytest

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.api import PaymentResult
from cpay_engine.bootstrap import open_engine_at, parse_db_url
from cpay_engine.client import SignedClient
from cpay_engine.domain.model import TxStatus
from cpay_engine.errors import InsufficientFunds
from cpay_engine.rpc.server import start_server
from cpay_engine.rpc.transport import GrpcTransport
from tests.support import Wallet

SEED = 20_240_917
USERS = tuple(f"u{n:02d}" for n in range(50))
START_BALANCE = (1_000, 5_000)  # minor units, inclusive
SERVERS = 2
THREADS_PER_SERVER = 8
PAYMENTS_PER_THREAD = 40
ORDINARY_AMOUNT = (1, 2_500)  # often more than the payer holds at that moment
IMPOSSIBLE_RATE = 0.08  # more than all the money there is: must be rejected
REPLAY_RATE = 0.2  # share of answered payments sent again through the other server
SNAPSHOT_EVERY_S = 0.05
TREASURY_ACCOUNT = "treasury:DBL"
# Generous bounds only so that a hang fails the test instead of stalling CI.
SERVER_START_S = 60.0
WORKLOAD_S = 120.0
SERVER_LIFETIME_S = 300.0


def serve(dsn: str, engine_seed: bytes, ports: Queue[tuple[int, str]], stop: Event) -> None:
    """Child process: its own engine and gRPC server on the shared database."""
    engine_key = SigningKey.from_seed(engine_seed)
    try:
        engine = open_engine_at(parse_db_url(dsn), receipt_key=lambda: engine_key)
        running = start_server(engine, "127.0.0.1:0")
    except BaseException as exc:
        ports.put((0, f"{type(exc).__name__}: {exc}"))
        raise
    ports.put((running.port, ""))
    try:
        stop.wait(SERVER_LIFETIME_S)
    finally:
        running.stop(grace_s=5.0)
        engine.close()


@dataclass(frozen=True)
class Transfer:
    payer: str
    payee: str
    amount: int


@dataclass
class ClientLog:
    acknowledged: dict[str, Transfer] = field(default_factory=dict)
    rejected: dict[str, Transfer] = field(default_factory=dict)
    impossible: set[str] = field(default_factory=set)  # ids whose amount nobody could pay
    replays: int = 0
    rejected_replays: int = 0
    failures: list[str] = field(default_factory=list)


@dataclass
class SnapshotLog:
    taken: int = 0
    violations: list[str] = field(default_factory=list)


def pay(transport: GrpcTransport, key: SigningKey, payment_id: str, t: Transfer) -> PaymentResult:
    client = SignedClient(transport, key)  # closing is the transport owner's job
    return client.pay(
        payment_id=payment_id, recipient=t.payee, amount_minor=t.amount, currency="DBL"
    )


def send_transfers(
    index: int,
    own_target: str,
    other_target: str,
    keys: dict[str, SigningKey],
    total: int,
    start: threading.Barrier,
) -> ClientLog:
    """One client thread: random transfers through its server, some replayed via the other."""
    log = ClientLog()
    rng = random.Random(SEED + 1 + index)
    own, other = GrpcTransport(own_target), GrpcTransport(other_target)
    try:
        start.wait(timeout=SERVER_START_S)
        for _ in range(PAYMENTS_PER_THREAD):
            payer, payee = rng.sample(USERS, 2)
            impossible = rng.random() < IMPOSSIBLE_RATE
            amount = total + rng.randint(1, total) if impossible else rng.randint(*ORDINARY_AMOUNT)
            transfer = Transfer(payer, payee, amount)
            payment_id = str(uuid.uuid4())
            if impossible:
                log.impossible.add(payment_id)
            try:
                result = pay(own, keys[payer], payment_id, transfer)
            except InsufficientFunds:
                log.rejected[payment_id] = transfer
                if rng.random() < REPLAY_RATE:
                    # A replay gives the original answer, even if funds have arrived since.
                    log.rejected_replays += 1
                    try:
                        pay(other, keys[payer], payment_id, transfer)
                    except InsufficientFunds:
                        pass
                    except Exception as exc:
                        log.failures.append(f"replay of rejected {payment_id}: {exc!r}")
                    else:
                        log.failures.append(f"replay of rejected {payment_id} went through")
                continue
            except Exception as exc:
                log.failures.append(f"pay {payment_id} {transfer}: {exc!r}")
                continue
            tx = result.transaction
            if (
                result.replayed
                or tx.id != payment_id
                or tx.status is not TxStatus.COMPLETED
                or tx.amount_minor != amount
                or (tx.from_handle, tx.to_handle) != (payer, payee)
            ):
                log.failures.append(f"pay {payment_id} {transfer}: unexpected answer {result}")
                continue
            log.acknowledged[payment_id] = transfer
            if rng.random() < REPLAY_RATE:
                log.replays += 1
                try:
                    again = pay(other, keys[payer], payment_id, transfer)
                except Exception as exc:
                    log.failures.append(f"replay of {payment_id}: {exc!r}")
                    continue
                if not again.replayed or again.transaction != tx:
                    log.failures.append(f"replay of {payment_id}: {again} differs from {result}")
    except Exception as exc:
        log.failures.append(f"client {index}: {exc!r}")
    finally:
        own.close()
        other.close()
    return log


def take_snapshots(dsn: str, total: int, done: threading.Event, log: SnapshotLog) -> None:
    """Until `done` (and once more after it): check conservation in one consistent snapshot."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while True:
                finished = done.is_set()
                conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                try:
                    accounts = conn.execute(
                        "SELECT a.id, a.name, u.handle, a.balance_minor "
                        "FROM accounts a LEFT JOIN users u ON u.id = a.user_id"
                    ).fetchall()
                    posted: dict[int, int] = dict(
                        conn.execute(
                            "SELECT account_id, sum(amount_minor)::bigint FROM postings "
                            "GROUP BY account_id"
                        ).fetchall()
                    )
                finally:
                    conn.execute("COMMIT")
                log.taken += 1
                users = {handle: bal for _, _, handle, bal in accounts if handle is not None}
                treasury = [bal for _, name, _, bal in accounts if name == TREASURY_ACCOUNT]
                where = f"snapshot {log.taken}"
                if sum(users.values()) != total:
                    log.violations.append(f"{where}: users hold {sum(users.values())} != {total}")
                if treasury != [-total]:
                    log.violations.append(f"{where}: treasury {treasury} != [{-total}]")
                negative = {h: b for h, b in users.items() if b < 0}
                if negative:
                    log.violations.append(f"{where}: negative balances {negative}")
                for account_id, name, _, balance in accounts:
                    if posted.get(account_id, 0) != balance:
                        log.violations.append(
                            f"{where}: {name} balance {balance} != postings "
                            f"{posted.get(account_id, 0)}"
                        )
                if finished:
                    return
                done.wait(SNAPSHOT_EVERY_S)
    except Exception as exc:
        log.violations.append(f"snapshot reader failed: {exc!r}")


@dataclass
class Bank:
    wallet: Wallet
    dsn: str
    initial: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.initial.values())


@pytest.fixture
def bank(pg_dsn: str) -> Iterator[Bank]:
    """A wallet on PostgreSQL: USERS, each minted a random starting balance."""
    wallet = Wallet.create_at(parse_db_url(pg_dsn))
    try:
        rng = random.Random(SEED)
        initial: dict[str, int] = {}
        for handle in USERS:
            wallet.add_user(handle)
            initial[handle] = rng.randint(*START_BALANCE)
            wallet.mint(handle, initial[handle])
        yield Bank(wallet, pg_dsn, initial)
    finally:
        wallet.close()


@contextlib.contextmanager
def server_processes(dsn: str, engine_key: SigningKey) -> Iterator[list[str]]:
    """SERVERS child processes serving `dsn`; yields their targets, stops them gracefully."""
    ctx = multiprocessing.get_context("spawn")
    ports: Queue[tuple[int, str]] = ctx.Queue()
    stop = ctx.Event()
    children = [
        ctx.Process(target=serve, args=(dsn, engine_key.seed(), ports, stop), name=f"cpay-{n}")
        for n in range(SERVERS)
    ]
    try:
        for child in children:
            child.start()
        started = [ports.get(timeout=SERVER_START_S) for _ in children]
        assert [error for _, error in started] == [""] * SERVERS
        yield [f"127.0.0.1:{port}" for port, _ in started]
        stop.set()
        for child in children:
            child.join(timeout=30)
        assert [child.exitcode for child in children] == [0] * SERVERS
    finally:
        stop.set()
        for child in children:
            if child.is_alive():
                child.terminate()
            child.join(timeout=10)


@pytest.mark.slow
def test_two_servers_sixteen_clients_conserve_money_in_every_snapshot(bank: Bank) -> None:
    began = time.monotonic()
    wallet, total = bank.wallet, bank.total
    clients = SERVERS * THREADS_PER_SERVER
    snapshots = SnapshotLog()
    done = threading.Event()
    reader = threading.Thread(
        target=take_snapshots, args=(bank.dsn, total, done, snapshots), daemon=True
    )
    pool = ThreadPoolExecutor(max_workers=clients, thread_name_prefix="bank-client")
    try:
        with server_processes(bank.dsn, wallet.engine_key) as targets:
            start = threading.Barrier(clients)
            futures = [
                pool.submit(
                    send_transfers,
                    n,
                    targets[n % SERVERS],
                    targets[(n + 1) % SERVERS],
                    wallet.keys,
                    total,
                    start,
                )
                for n in range(clients)
            ]
            reader.start()
            deadline = time.monotonic() + WORKLOAD_S
            logs = [f.result(timeout=max(0.0, deadline - time.monotonic())) for f in futures]
            done.set()
            reader.join(timeout=WORKLOAD_S)
            assert not reader.is_alive(), "the snapshot reader did not finish"
    finally:
        done.set()
        pool.shutdown(wait=False, cancel_futures=True)

    acknowledged: dict[str, Transfer] = {}
    rejected: dict[str, Transfer] = {}
    impossible: set[str] = set()
    for log in logs:
        acknowledged |= log.acknowledged
        rejected |= log.rejected
        impossible |= log.impossible
    failures = [failure for log in logs for failure in log.failures]
    replays = sum(log.replays for log in logs)
    rejected_replays = sum(log.rejected_replays for log in logs)
    print(
        f"\nbank workload: {len(acknowledged)} acknowledged, {len(rejected)} rejected "
        f"({len(impossible)} impossible), {replays} replays of acknowledged and "
        f"{rejected_replays} of rejected payments, {snapshots.taken} snapshots, "
        f"{len(failures)} failures, {time.monotonic() - began:.1f} s"
    )

    # Every request got a definite answer, and the workload had both outcomes.
    assert failures == []
    attempted = SERVERS * THREADS_PER_SERVER * PAYMENTS_PER_THREAD
    assert len(acknowledged) + len(rejected) == attempted
    assert impossible <= rejected.keys()
    assert len(acknowledged) > attempted // 3
    assert len(rejected) > len(impossible) > 0
    assert replays > 0
    assert rejected_replays > 0

    # No snapshot ever saw money created, lost or a user overdrawn.
    assert snapshots.violations == []
    assert snapshots.taken >= 5

    with psycopg.connect(bank.dsn) as conn:
        transactions = conn.execute(
            "SELECT id, status, from_handle, to_handle, amount_minor, failure_code "
            "FROM transactions WHERE kind = 'payment'"
        ).fetchall()
        posting_rows = conn.execute(
            "SELECT t.id, u.handle, p.amount_minor, p.currency FROM postings p "
            "JOIN transactions t ON t.seq = p.seq JOIN accounts a ON a.id = p.account_id "
            "LEFT JOIN users u ON u.id = a.user_id WHERE t.kind = 'payment'"
        ).fetchall()
        final: dict[str, int] = dict(
            conn.execute(
                "SELECT u.handle, a.balance_minor FROM accounts a JOIN users u ON u.id = a.user_id "
                "WHERE a.currency = 'DBL'"
            ).fetchall()
        )
        (treasury,) = conn.execute(
            "SELECT balance_minor FROM accounts WHERE name = %s", (TREASURY_ACCOUNT,)
        ).fetchone() or (None,)

    # One transaction per payment id, whatever the replays: none lost, none doubled, none extra.
    id_counts = Counter(row[0] for row in transactions)
    assert [pid for pid, n in id_counts.items() if n != 1] == []
    assert id_counts.keys() == acknowledged.keys() | rejected.keys()
    by_id = {row[0]: row[1:] for row in transactions}
    postings: dict[str, list[tuple[str | None, int]]] = defaultdict(list)
    for pid, handle, amount, currency in posting_rows:
        assert currency == "DBL"
        postings[pid].append((handle, amount))

    wrong_completed = []
    for pid, t in acknowledged.items():
        expected_row = ("completed", t.payer, t.payee, t.amount, "")
        expected_postings = sorted([(t.payer, -t.amount), (t.payee, t.amount)])
        if by_id[pid] != expected_row or sorted(postings[pid]) != expected_postings:
            wrong_completed.append((pid, t, by_id[pid], postings[pid]))
    assert wrong_completed == []

    wrong_failed = []
    for pid, t in rejected.items():
        expected_row = ("failed", t.payer, t.payee, t.amount, InsufficientFunds.code)
        if by_id[pid] != expected_row or pid in postings:
            wrong_failed.append((pid, t, by_id[pid], postings.get(pid)))
    assert wrong_failed == []

    # Final balances: the initial ones plus the net of the acknowledged payments, nothing else.
    expected = dict(bank.initial)
    for t in acknowledged.values():
        expected[t.payer] -= t.amount
        expected[t.payee] += t.amount
    assert {h: final.get(h) for h in USERS} == expected
    assert final.get("alice", 0) == 0
    assert treasury == -total

    report = wallet.client("alice").verify_ledger()
    assert report.ok, report.problems
