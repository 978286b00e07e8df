"""The tui_history benchmark's wallet: what it builds must be a consistent ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from bench.tui_history import (
    PROFILE,
    BenchPassphrase,
    build_wallet,
    describe_request,
    history_painted,
    make_home,
    newest_when,
    terminal_launch,
)
from cpay_cli.session import Session
from cpay_engine.wire import cpay_pb2 as pb

ROWS = 200


def test_the_built_wallet_is_a_consistent_ledger_the_cli_can_open(tmp_path: Path) -> None:
    cached = tmp_path / "cached"
    cached.mkdir()
    manifest = build_wallet(cached, ROWS, lambda _message: None)
    assert manifest.alice_transactions == ROWS + 5  # the mint and four set-up payments

    conn = sqlite3.connect(cached / "wallet.db")
    try:
        mismatched = conn.execute(
            "SELECT a.name, a.balance_minor, coalesce(sum(p.amount_minor), 0) FROM accounts a "
            "LEFT JOIN postings p ON p.account_id = a.id GROUP BY a.id "
            "HAVING a.balance_minor <> coalesce(sum(p.amount_minor), 0)"
        ).fetchall()
        unbalanced = conn.execute(
            "SELECT seq FROM postings GROUP BY seq HAVING sum(amount_minor) <> 0"
        ).fetchall()
        orphans = conn.execute(
            "SELECT count(*) FROM transactions t WHERE "
            "(SELECT count(*) FROM tx_parties p WHERE p.seq = t.seq) <> 2"
        ).fetchone()[0]
    finally:
        conn.close()
    assert mismatched == []
    assert unbalanced == []
    assert orphans == 1  # the mint: only its recipient sees it

    home = make_home(tmp_path / "home", cached, manifest)
    session = Session(profile_name=PROFILE, home=home, passphrase=BenchPassphrase())
    try:
        api = session.api()
        newest = api.history(limit=1).transactions
        oldest = api.history(limit=1, after_cursor="c1.0").transactions
        assert [t.id for t in newest] == [manifest.newest_id]
        assert [t.id for t in oldest] == [manifest.oldest_id]
        assert api.account().handle == "alice"
    finally:
        session.close()


def test_requests_are_described_by_their_history_arguments() -> None:
    body = pb.TransactionHistoryRequest.Body(limit=20, after_cursor="c1.0")
    body.filter.status = pb.TRANSACTION_STATUS_PENDING
    request = pb.TransactionHistoryRequest(signed=pb.SignedRequest(body=body.SerializeToString()))
    method = "/cpay.v1.Payments/GetTransactionHistory"
    assert describe_request(method, request) == "history limit=20 after=c1.0 status=pending"
    assert describe_request("/cpay.v1.Payments/GetBalances", request) == "GetBalances"


def test_a_terminal_launch_reads_the_first_history_page_off_a_real_pseudo_terminal(
    tmp_path: Path,
) -> None:
    # The benchmark's end-to-end figure: `cpay ui --screen history` spawned on a pty, the
    # screen read back by a VT100 emulator until the newest row is on the first line.
    cached = tmp_path / "cached"
    cached.mkdir()
    manifest = build_wallet(cached, ROWS, lambda _message: None)
    base = tmp_path / "home"
    home = make_home(base, cached, manifest)
    first_when = newest_when(home.wallet_db(PROFILE), manifest)

    seconds = terminal_launch(base, first_when)  # raises if no page shows up in time

    assert seconds > 0


def test_the_first_page_is_recognised_only_under_the_history_header() -> None:
    header = " When              Dir  Counterparty  Amount  Cur  Status     Memo"
    row = " 2026-11-26 14:52  out  @bob          -1.00   DBL  completed  coffee"

    assert history_painted(["CPay", header, row, ""], "2026-11-26 14:52")
    assert not history_painted(["CPay", header, " loading", row], "2026-11-26 14:52")
    assert not history_painted(["Latest activity", row, ""], "2026-11-26 14:52")
