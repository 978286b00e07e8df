"""`cpay verify` reads the whole ledger: on one snapshot, and without the write lock.

Under the write lock every payment waited for it (any user could slow every payment
down by verifying in a loop); on a reader whose statements each see their own state, a
payment committed between two of its reads would show as a problem that is not there.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.service.engine import Engine
from cpay_engine.service.ports import Store, UnitOfWork
from tests.support import Wallet

T = TypeVar("T")
DEADLOCK_GUARD_S = 60  # not a timing assertion: only keeps a regression from hanging the suite


class _PaysMidVerify:
    """A unit of work that, when verify reads the posting sums, has a payment committed
    by another thread before it goes on to read the balances."""

    def __init__(self, inner: UnitOfWork, pay: Callable[[], None]) -> None:
        self._inner = inner
        self._pay = pay

    def posting_sums(self) -> Any:
        sums = self._inner.posting_sums()
        self._pay()
        return sums

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _Store:
    def __init__(self, inner: Store, pay: Callable[[], None]) -> None:
        self.inner = inner
        self._pay = pay

    def reader(self) -> contextlib.AbstractContextManager[UnitOfWork]:
        return self._wrapped(self.inner.reader())

    def snapshot(self) -> contextlib.AbstractContextManager[UnitOfWork]:
        return self._wrapped(self.inner.snapshot())

    @contextlib.contextmanager
    def _wrapped(self, view: contextlib.AbstractContextManager[UnitOfWork]) -> Iterator[Any]:
        with view as uow:
            yield _PaysMidVerify(uow, self._pay)

    def write(self, work: Callable[[UnitOfWork], T]) -> T:
        return self.inner.write(lambda uow: work(_PaysMidVerify(uow, self._pay)))

    def close(self) -> None:
        self.inner.close()


def test_a_payment_committed_while_verify_reads_neither_waits_nor_shows_as_a_problem(
    wallet: Wallet,
) -> None:
    wallet.add_user("bob")
    wallet.mint("alice", 10_000)
    paid: list[str] = []

    def pay_on_another_thread() -> None:
        def pay() -> None:
            result = wallet.client("alice").pay(
                payment_id="mid-verify-01", recipient="bob", amount_minor=2_500, currency="DBL"
            )
            paid.append(result.transaction.status.value)

        payer = threading.Thread(target=pay)
        payer.start()
        payer.join(DEADLOCK_GUARD_S)
        assert not payer.is_alive(), "the payment waited for verify's lock"

    store = _Store(wallet.engine.store, pay_on_another_thread)
    engine = Engine(store, receipt_key=lambda: wallet.engine_key)
    report = SignedClient(InProcessTransport(engine), wallet.keys["alice"]).verify_ledger()

    assert paid == ["completed"]
    assert report.problems == ()
    assert report.transactions_checked == 1  # the mint: the payment came after the snapshot
    after = wallet.client("alice").verify_ledger()
    assert (after.problems, after.transactions_checked) == ((), 2)
