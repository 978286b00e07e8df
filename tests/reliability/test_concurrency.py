"""Concurrent spending from one account: threads sharing one engine, and processes each
with its own engine on the same SQLite file. The payer holds exactly enough for N payments
and asks for twice as many; exactly N may succeed and no money may appear or vanish."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.bootstrap import open_local_engine
from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.errors import InsufficientFunds
from tests.support import Wallet

AFFORDABLE = 20  # payments the payer can cover
ATTEMPTS = 40  # payments the payer asks for
AMOUNT = 250  # minor units each
RECIPIENTS = ("carol", "dave")


def pay_all(client: SignedClient, payment_ids: Sequence[str]) -> tuple[int, int]:
    """Attempt each payment; count (completed, insufficient funds). Anything else raises."""
    completed = short = 0
    for n, payment_id in enumerate(payment_ids):
        try:
            result = client.pay(
                payment_id=payment_id,
                recipient=RECIPIENTS[n % len(RECIPIENTS)],
                amount_minor=AMOUNT,
                currency="DBL",
            )
        except InsufficientFunds:
            short += 1
        else:
            assert not result.replayed
            completed += 1
    return completed, short


def split(payment_ids: list[str], parts: int) -> list[list[str]]:
    return [payment_ids[i::parts] for i in range(parts)]


@pytest.fixture
def payer_with_exactly_enough(wallet: Wallet) -> Wallet:
    """@bob holds exactly AFFORDABLE * AMOUNT; @carol and @dave hold nothing."""
    wallet.add_user("bob")
    for handle in RECIPIENTS:
        wallet.add_user(handle)
    wallet.mint("bob", AFFORDABLE * AMOUNT)
    return wallet


def assert_exactly_the_affordable_payments_went_through(wallet: Wallet) -> None:
    balances = {}
    for handle in ("bob", *RECIPIENTS):
        [balance] = wallet.client(handle).balances("DBL")
        balances[handle] = balance.available_minor
    assert balances["bob"] == 0
    assert sum(balances.values()) == AFFORDABLE * AMOUNT
    with closing(sqlite3.connect(wallet.path)) as db:
        statuses = Counter(
            dict(
                db.execute(
                    "SELECT status, count(*) FROM transactions WHERE kind = 'payment' GROUP BY 1"
                )
            )
        )
        (payment_postings,) = db.execute(
            "SELECT count(*) FROM postings p JOIN transactions t ON t.seq = p.seq "
            "WHERE t.kind = 'payment'"
        ).fetchone()
        (everything,) = db.execute("SELECT sum(balance_minor) FROM accounts").fetchone()
    assert statuses == Counter(completed=AFFORDABLE, failed=ATTEMPTS - AFFORDABLE)
    assert payment_postings == 2 * AFFORDABLE
    assert everything == 0
    report = wallet.client("alice").verify_ledger()
    assert report.ok, report.problems


def test_eight_threads_spending_one_balance_get_exactly_the_affordable_payments(
    payer_with_exactly_enough: Wallet,
) -> None:
    wallet = payer_with_exactly_enough
    threads = 8
    start = threading.Barrier(threads)
    payment_ids = [f"pay-thread-{n:04d}" for n in range(ATTEMPTS)]

    def worker(chunk: list[str]) -> tuple[int, int]:
        client = wallet.client("bob")  # one client per thread; the store gives each a connection
        start.wait()
        return pay_all(client, chunk)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(worker, split(payment_ids, threads)))

    assert sum(completed for completed, _ in results) == AFFORDABLE
    assert sum(short for _, short in results) == ATTEMPTS - AFFORDABLE
    assert_exactly_the_affordable_payments_went_through(wallet)


def pay_from_process(
    db_path: str,
    engine_seed: bytes,
    payer_seed: bytes,
    payment_ids: list[str],
    start: Barrier,
    results: Queue[tuple[int, int, str]],
) -> None:
    """Child process: its own engine on the shared file, the payer's key rebuilt from its seed."""
    engine_key = SigningKey.from_seed(engine_seed)
    engine = open_local_engine(Path(db_path), receipt_key=lambda: engine_key)
    try:
        client = SignedClient(InProcessTransport(engine), SigningKey.from_seed(payer_seed))
        start.wait()
        completed, short = pay_all(client, payment_ids)
    except BaseException as exc:
        results.put((0, 0, f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        engine.close()
    results.put((completed, short, ""))


@pytest.mark.slow
def test_four_processes_spending_one_balance_get_exactly_the_affordable_payments(
    payer_with_exactly_enough: Wallet,
) -> None:
    wallet = payer_with_exactly_enough
    processes = 4
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes)
    results: Queue[tuple[int, int, str]] = ctx.Queue()
    payment_ids = [f"pay-process-{n:04d}" for n in range(ATTEMPTS)]
    children = [
        ctx.Process(
            target=pay_from_process,
            args=(
                str(wallet.path),
                wallet.engine_key.seed(),
                wallet.keys["bob"].seed(),
                chunk,
                start,
                results,
            ),
        )
        for chunk in split(payment_ids, processes)
    ]
    for child in children:
        child.start()
    # Generous limits only so a deadlock fails the test instead of hanging CI.
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0] * processes
    assert [error for _, _, error in outcomes] == [""] * processes
    assert sum(completed for completed, _, _ in outcomes) == AFFORDABLE
    assert sum(short for _, short, _ in outcomes) == ATTEMPTS - AFFORDABLE
    assert_exactly_the_affordable_payments_went_through(wallet)
