"""End to end through the real `cpay` console script: a server, two remote clients, an outage.

Every `cpay` runs in its own subprocess with its own CPAY_HOME, the file key store and
the passphrase in the environment (never on the command line). The server listens on
port 0 and says on stderr which port it got. Every wait is bounded; whatever is still
running at the end is killed.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CPAY = Path(sys.executable).parent / "cpay"
PASSPHRASE = "correct horse battery staple, from the environment"
COMMAND_TIMEOUT_S = 60.0
SERVER_START_TIMEOUT_S = 30.0
SERVER_STOP_TIMEOUT_S = 30.0
LISTENING = re.compile(r"cpay server listening on 127\.0\.0\.1:(\d+)")


@dataclass(frozen=True)
class Home:
    """One machine's CPAY_HOME: its profiles, encrypted key files and history cache."""

    path: Path

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CPAY_")}
        env.pop("FORCE_COLOR", None)
        env.update(
            CPAY_HOME=str(self.path),
            CPAY_KEYSTORE="file",
            CPAY_KEY_PASSPHRASE=PASSPHRASE,
            COLUMNS="240",
        )
        env.update(extra or {})
        return env

    def run(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        assert PASSPHRASE not in args
        result = subprocess.run(
            [str(CPAY), *args],
            env=self.env(env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        assert "Traceback" not in result.stderr, f"cpay {' '.join(args)}:\n{result.stderr}"
        return result

    def json(self, *args: str, stdin: str = "", env: dict[str, str] | None = None) -> Any:
        """Run `cpay ARGS -o json`, which must succeed, and parse what it printed."""
        result = self.run(*args, "-o", "json", stdin=stdin, env=env)
        assert result.returncode == 0, f"cpay {' '.join(args)}:\n{result.stderr}"
        return json.loads(result.stdout)


@dataclass
class ServerProcess:
    """`cpay server run` in the background, its stderr read line by line by a thread."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    stderr: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, home: Home, db: str, *options: str) -> ServerProcess:
        process = subprocess.Popen(
            [str(CPAY), "server", "run", "--db", db, "--listen", "127.0.0.1:0", *options],
            env=home.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        server = cls(process)
        server.reader = threading.Thread(target=server._read, daemon=True)
        server.reader.start()
        return server

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    @property
    def output(self) -> str:
        return "".join(self.stderr)

    def port(self) -> int:
        """The port from the 'listening' line, waiting at most SERVER_START_TIMEOUT_S."""
        waited = 0.0
        while waited < SERVER_START_TIMEOUT_S:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                waited += 0.5
                assert self.process.poll() is None, f"the server exited:\n{self.output}"
                continue
            found = LISTENING.search(line)
            if found:
                return int(found.group(1))
        raise AssertionError(f"the server did not say where it listens:\n{self.output}")

    def terminate(self) -> int:
        """SIGTERM, then the exit code (bounded wait) once stderr is fully read."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        if self.reader is not None:
            self.reader.join(timeout=SERVER_STOP_TIMEOUT_S)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=SERVER_STOP_TIMEOUT_S)


@pytest.mark.slow
def test_remote_clients_pay_each_other_and_browse_history_offline_once_the_server_stops(
    tmp_path: Path,
) -> None:
    host, alice, bob = (Home(tmp_path / name) for name in ("server-home", "alice", "bob"))
    db = f"sqlite:///{tmp_path / 'server.db'}"
    created = host.run("server", "init", "--db", db, "--handle", "root")
    assert created.returncode == 0, created.stderr
    server = ServerProcess.start(host, db)
    try:
        target = f"127.0.0.1:{server.port()}"

        # An admin on the server host invites two people; each enrolls a device.
        codes = [host.json("--profile", "server", "admin", "invite")["code"] for _ in range(2)]
        assert len(set(codes)) == 2
        via_env = alice.run(
            "init", "--remote", target, "--handle", "alice", env={"CPAY_INVITE": codes[0]}
        )
        via_stdin = bob.json(
            "init", "--remote", target, "--handle", "bob", "--invite", "-", stdin=codes[1] + "\n"
        )
        assert via_env.returncode == 0, via_env.stderr
        assert "Enrolled @alice" in via_env.stderr
        assert (via_stdin["handle"], via_stdin["mode"], via_stdin["server"]) == (
            "bob",
            "remote",
            target,
        )
        assert codes[0] not in via_env.stdout + via_env.stderr
        assert codes[1] not in json.dumps(via_stdin)

        # Money arrives from the treasury, then moves from one client to the other.
        minted = host.run("--profile", "server", "admin", "mint", "@alice", "100", "DBL", "--yes")
        assert minted.returncode == 0, minted.stderr
        paid = alice.json("pay", "@bob", "12.50", "DBL", "--yes", "-m", "lunch")
        assert (paid["status"], paid["from"], paid["to"], paid["amount"]) == (
            "completed",
            "@alice",
            "@bob",
            "12.50",
        )
        payment_id = paid["id"]
        [sent] = [row for row in alice.json("history") if row["id"] == payment_id]
        [received] = [row for row in bob.json("history") if row["id"] == payment_id]
        assert (sent["direction"], sent["counterparty"], sent["memo"]) == ("out", "@bob", "lunch")
        assert (received["direction"], received["counterparty"]) == ("in", "@alice")
        assert bob.json("balance") == [{"currency": "DBL", "available": "12.50", "pending": "0.00"}]

        # The server stops cleanly on SIGTERM.
        assert server.terminate() == 0, server.output
        assert "stopped" in server.output

        # Offline: history and show answer from the cache and say so; balance cannot.
        offline = alice.run("history", "-o", "json")
        assert offline.returncode == 0, offline.stderr
        assert payment_id in {row["id"] for row in json.loads(offline.stdout)}
        assert "offline cache" in offline.stderr

        shown = alice.run("show", payment_id)
        assert shown.returncode == 0, shown.stderr
        assert "signature verified" in shown.stdout
        assert "offline cache" in shown.stderr
        by_short_id = alice.json("show", payment_id[:8])  # as a narrow table leaves it
        assert by_short_id["id"] == payment_id

        balance = alice.run("balance")
        assert balance.returncode == 1
        assert balance.stdout == ""
        assert "cannot reach the CPay server" in balance.stderr
        assert target in balance.stderr
    finally:
        server.kill()
