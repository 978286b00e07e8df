"""The same payment sent at the same moment through two servers is made once and replayed once."""

from __future__ import annotations

import threading
import uuid

import pytest

from cpay_engine.bootstrap import parse_db_url
from cpay_engine.client import SignedClient
from cpay_engine.rpc.transport import GrpcTransport
from tests.postgres.test_bank_workload import server_processes
from tests.support import Wallet

RACES = 20
AMOUNT = 5


@pytest.mark.slow
def test_a_payment_sent_twice_at_once_through_two_servers_is_made_once_and_replayed_once(
    pg_dsn: str,
) -> None:
    wallet = Wallet.create_at(parse_db_url(pg_dsn))
    wallet.add_user("bob")
    wallet.add_user("carol")  # no account yet: the first races also create it
    wallet.mint("bob", 1_000_000)
    outcomes: list[list[str]] = []
    with server_processes(pg_dsn, wallet.engine_key) as targets:
        transports = [GrpcTransport(t) for t in targets]
        try:
            for _ in range(RACES):
                payment_id = str(uuid.uuid4())
                barrier = threading.Barrier(len(transports))
                results: list[str] = []

                def send(
                    transport: GrpcTransport,
                    pid: str = payment_id,
                    barrier: threading.Barrier = barrier,
                    results: list[str] = results,
                ) -> None:
                    barrier.wait()
                    try:
                        result = SignedClient(transport, wallet.keys["bob"]).pay(
                            payment_id=pid, recipient="carol", amount_minor=AMOUNT, currency="DBL"
                        )
                        results.append("replayed" if result.replayed else "made")
                    except Exception as exc:  # recorded and asserted on below
                        results.append(f"{type(exc).__name__}: {exc}")

                threads = [threading.Thread(target=send, args=(t,)) for t in transports]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(60)
                outcomes.append(sorted(results))
        finally:
            for transport in transports:
                transport.close()
    assert outcomes == [["made", "replayed"]] * RACES
    [carol] = wallet.client("carol").balances()
    assert carol.available_minor == RACES * AMOUNT
    assert wallet.client("alice").verify_ledger().ok
    wallet.close()
