"""SIGTERM while a call is stuck in the engine past the grace period.

Another process holds the server database's write lock, so a payment waits inside the
engine. The server used to close its SQLite connections under that thread once the grace
period ran out, and died of a segmentation fault (exit 139). Now it leaves them to the
operating system, says so, and exits 0; the client hears an unknown outcome; nothing is
committed and the ledger verifies.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.test_remote_cli import CPAY, Home, ServerProcess


@pytest.mark.slow
def test_a_call_stuck_past_the_grace_period_is_abandoned_cleanly(tmp_path: Path) -> None:
    host, bob = Home(tmp_path / "server-home"), Home(tmp_path / "bob")
    path = tmp_path / "server.db"
    db = f"sqlite:///{path}"
    assert host.run("server", "init", "--db", db, "--handle", "root").returncode == 0
    server = ServerProcess.start(host, db, "--grace", "0.5")
    lock = sqlite3.connect(path, isolation_level=None)
    try:
        target = f"127.0.0.1:{server.port()}"
        code = host.json("--profile", "server", "admin", "invite")["code"]
        enrolled = bob.run("init", "--remote", target, "--handle", "bob", env={"CPAY_INVITE": code})
        assert enrolled.returncode == 0, enrolled.stderr

        lock.execute("BEGIN IMMEDIATE")  # the payment below waits for this inside the engine
        payment = subprocess.Popen(
            [str(CPAY), "pay", "@root", "0.01", "DBL", "--yes", "--id", "stuck-payment-1"],
            env=bob.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The preview is printed once the key is unlocked, just before the request goes
        # out; then the request reaches the engine and waits there for the lock.
        assert payment.stderr is not None
        said = [payment.stderr.readline() for _ in range(2)]
        assert "stuck-payment-1" in said[1], said
        time.sleep(1.5)
        assert server.terminate() == 0, server.output  # SIGTERM; before, exit 139
        assert "abandoned" in server.output
        _, rest = payment.communicate(timeout=60)
        paid_err = "".join(said) + rest
        assert payment.returncode == 9, paid_err
        assert "stuck-payment-1" in paid_err
        lock.execute("ROLLBACK")

        report = host.json("--profile", "server", "verify")
        assert report["ok"] is True
        rows = lock.execute("SELECT count(*) FROM transactions WHERE id = 'stuck-payment-1'")
        assert rows.fetchone() == (0,)
    finally:
        lock.close()
        server.kill()
