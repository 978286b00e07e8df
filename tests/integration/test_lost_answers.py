"""Keys registered with a server whose answer never arrives: nothing may be lost.

An enrollment and a key rotation go through a TCP proxy that, while cutting, passes the
request on, waits for the server's answer and then drops the connection instead: the
server has committed, the client hears nothing (its retries meet the same fate). The
client must keep the new key, exit 9, and the next command must find out from the
server which key is live and go on with it. Real `cpay` processes, a real server.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from pathlib import Path

import pytest

from tests.integration.test_remote_cli import Home, ServerProcess

# More than a connection's preface and settings, less than any signed request.
REQUEST_BYTES = 300
# More than HTTP/2 control frames (a settings ack, a window update, a ping: 9-17 bytes
# each), less than any response (its headers, message and trailers): held back until then,
# so the cut falls after the engine's answer, not before the request reached it.
RESPONSE_BYTES = 80


class CuttingProxy:
    """127.0.0.1:<port> → the server. While `cuts_left` is above 0, a connection whose
    client has sent a request gets the server's answer withheld and is closed once it
    arrives (each such cut counts one down)."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.cuts_left = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            sent = [0]
            threading.Thread(target=self._up, args=(client, server, sent), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, sent), daemon=True).start()

    @staticmethod
    def _up(client: socket.socket, server: socket.socket, sent: list[int]) -> None:
        try:
            while data := client.recv(65536):
                sent[0] += len(data)
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(server)

    def _down(self, server: socket.socket, client: socket.socket, sent: list[int]) -> None:
        answered = b""  # what the server sent since the request: control frames, then
        try:  # (once the engine is done) the response
            while data := server.recv(65536):
                if sent[0] > REQUEST_BYTES:
                    answered += data
                    if len(answered) >= RESPONSE_BYTES and self._take_cut():
                        break  # the server answered: the client never hears it
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)

    def _take_cut(self) -> bool:
        with self.lock:
            if self.cuts_left <= 0:
                return False
            self.cuts_left -= 1
            self.cuts += 1
            return True

    def close(self) -> None:
        self.listener.close()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@pytest.mark.slow
def test_an_enrollment_and_a_rotation_whose_answers_are_lost_keep_their_keys(
    tmp_path: Path,
) -> None:
    host, bob = Home(tmp_path / "server-home"), Home(tmp_path / "bob")
    db = f"sqlite:///{tmp_path / 'server.db'}"
    assert host.run("server", "init", "--db", db, "--handle", "root").returncode == 0
    server = ServerProcess.start(host, db)
    proxy = CuttingProxy(server.port())
    try:
        target = f"127.0.0.1:{proxy.port}"
        code = host.json("--profile", "server", "admin", "invite")["code"]

        # Enrollment: the server registers @bob; the client hears nothing.
        proxy.cuts_left = 100
        lost = bob.run("init", "--remote", target, "--handle", "bob", env={"CPAY_INVITE": code})
        proxy.cuts_left = 0
        assert lost.returncode == 9, lost.stderr
        assert proxy.cuts >= 1
        assert "is kept" in lost.stderr
        key_files = list((bob.path / "keys").glob("*.key"))
        assert len(key_files) == 1  # the key the server now knows

        # Running the same command again (what exit 9 suggests) finds the enrolment went
        # through: the key is adopted, and it says so, exit 0.
        again = bob.run("init", "--remote", target, "--handle", "bob", env={"CPAY_INVITE": code})
        assert again.returncode == 0, again.stderr
        assert "was registered" in again.stderr
        assert "Enrolled @bob" in again.stderr
        who = bob.run("whoami", "-o", "json")
        assert who.returncode == 0, who.stderr
        enrolled_key = next(k for k in bob.json("key", "list") if k["this_device"])["key_id"]
        assert key_files[0].name.endswith(f"{enrolled_key}.key")
        host.run("--profile", "server", "admin", "mint", "@bob", "5", "DBL", "--yes")
        assert bob.json("balance")[0]["available"] == "5.00"

        # Rotation: the server registers the new key and revokes the old one; the client
        # hears nothing, and its retries (signed with the revoked key) hear nothing either.
        proxy.cuts_left = 100
        rotated = bob.run("key", "rotate")
        proxy.cuts_left = 0
        assert rotated.returncode == 9, rotated.stderr
        assert "is kept" in rotated.stderr
        assert bob.json("balance")[0]["available"] == "5.00"  # settled, then signed anew
        keys = bob.json("key", "list")
        active = [k for k in keys if k["status"] == "active"]
        assert len(active) == 1
        assert active[0]["this_device"]
        assert active[0]["key_id"] != enrolled_key
        assert {k["key_id"]: k["status"] for k in keys}[enrolled_key] == "revoked"
        # Only the live key is left on disk.
        left = [p.name for p in (bob.path / "keys").glob("*.key")]
        assert left == [f"default__bob__{active[0]['key_id']}.key"]

        # A payment whose first answer is lost: the client's own retry gets the engine's
        # replay, which is this command's payment, not an earlier one's.
        proxy.cuts_left = 1
        paid = bob.run("pay", "@root", "1", "DBL", "--yes", "--id", "lost-once-1", "-o", "json")
        assert paid.returncode == 0, paid.stderr
        assert json.loads(paid.stdout)["replayed"] is False
        assert "already made" not in paid.stderr
        assert bob.json("balance")[0]["available"] == "4.00"
    finally:
        proxy.close()
        server.kill()


@pytest.mark.slow
def test_a_refused_enrollment_keeps_nothing_and_the_next_one_works(tmp_path: Path) -> None:
    """A definite refusal is not a lost answer: no key and no profile are kept."""
    host, carol = Home(tmp_path / "server-home"), Home(tmp_path / "carol")
    db = f"sqlite:///{tmp_path / 'server.db'}"
    assert host.run("server", "init", "--db", db, "--handle", "root").returncode == 0
    server = ServerProcess.start(host, db)
    try:
        target = f"127.0.0.1:{server.port()}"
        code = host.json("--profile", "server", "admin", "invite")["code"]
        refused = carol.run(
            "init", "--remote", target, "--handle", "carol", env={"CPAY_INVITE": "inv-nope"}
        )
        assert refused.returncode == 4, refused.stderr
        assert list((carol.path / "keys").glob("*.key")) == []
        assert carol.run("whoami").returncode != 0
        enrolled = carol.run(
            "init", "--remote", target, "--handle", "carol", env={"CPAY_INVITE": code}
        )
        assert enrolled.returncode == 0, enrolled.stderr
        assert carol.json("whoami")["handle"] == "@carol"
    finally:
        server.kill()
