"""SqliteStore.write: concurrent writers of one process share a transaction and a COMMIT.

Each caller's work runs in its own savepoint, so one caller's failure undoes only its
own writes; nobody hears of a result before the COMMIT. The batches are made
deterministic by holding the first writer inside its work until the others queue.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cpay_engine.adapters.sqlite_store import SqliteStore
from cpay_engine.errors import InvalidInput
from cpay_engine.service.ports import UnitOfWork

FAR = 10**15  # expiry far in the future: pruning never removes these nonces


def nonces(path: Path) -> set[bytes]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute("SELECT nonce FROM nonces")}
    finally:
        conn.close()


Work = Callable[[UnitOfWork], bytes]


def record(nonce: bytes, fail: bool = False) -> Work:
    def work(uow: UnitOfWork) -> bytes:
        assert uow.record_nonce("k-test", nonce, FAR, 0)
        if fail:
            raise InvalidInput(f"refused {nonce!r}")
        return nonce

    return work


class Gate:
    """Holds the first writer inside its work (so inside the write lock) until opened."""

    def __init__(self, nonce: bytes) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.nonce = nonce

    def __call__(self, uow: UnitOfWork) -> bytes:
        self.entered.set()
        self.opened.wait(30)
        return record(self.nonce)(uow)


def run_batched(store: SqliteStore, gate: Gate, works: list[Work]) -> dict[int, object]:
    """Run `gate` alone, then `works` queued behind it (so as one batch)."""
    works = [gate, *works]
    results: dict[int, object] = {}

    def call(i: int) -> None:
        try:
            results[i] = store.write(works[i])
        except Exception as exc:
            results[i] = exc

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert gate.entered.wait(30)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, len(works))]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 30
    while len(store._queue) < len(others):  # all of them queued behind the first
        assert time.monotonic() < deadline, "the writers never queued"
        time.sleep(0.001)
    gate.opened.set()
    for thread in [first, *others]:
        thread.join(timeout=30)
    return results


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "w.db")
    yield s
    s.close()


def test_writers_queued_behind_one_share_a_single_commit(store: SqliteStore) -> None:
    before = store.commits

    results = run_batched(store, Gate(b"n0"), [record(b"n%d" % i) for i in range(1, 6)])

    assert results == {i: b"n%d" % i for i in range(6)}
    assert store.commits - before == 2  # the first alone, then the five together
    assert nonces(store.path) == {b"n%d" % i for i in range(6)}


def test_a_failing_writer_in_a_batch_loses_only_its_own_writes(store: SqliteStore) -> None:
    works = [record(b"a"), record(b"bad", fail=True), record(b"c")]

    results = run_batched(store, Gate(b"first"), works)

    assert results[1] == b"a"
    assert results[3] == b"c"
    assert isinstance(results[2], InvalidInput)
    assert "refused" in str(results[2])
    assert nonces(store.path) == {b"first", b"a", b"c"}  # b"bad" was rolled back alone


def test_a_lone_writer_that_fails_writes_nothing(store: SqliteStore) -> None:
    with pytest.raises(InvalidInput, match="refused"):
        store.write(record(b"alone", fail=True))

    assert nonces(store.path) == set()
    assert store.write(record(b"next")) == b"next"  # the connection is usable afterwards
