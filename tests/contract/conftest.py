"""The engines the contract suite runs on, parametrized in one place.

Every engine serves the users of one real wallet (tests.support.Wallet, SQLite on a
temporary file); `Engines.api(handle)` gives that user's PaymentsAPI on the engine
under test:

- "local":        SignedClient over InProcessTransport (Wallet.client);
- "remote":       SignedClient over GrpcTransport to start_server(wallet.engine);
- "remote+cache": the remote client wrapped in cpay_cli.cache.CachingEngine.

To add an engine (a PostgreSQL store, say), add an entry to ENGINES: every test that
takes the `engines` fixture then runs on it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cpay_cli.cache import CachingEngine, HistoryCache
from cpay_engine.adapters.crypto import SigningKey
from cpay_engine.api import PaymentsAPI
from cpay_engine.client import InProcessTransport, SignedClient
from cpay_engine.domain.model import Role
from cpay_engine.rpc.server import RunningServer, start_server
from cpay_engine.rpc.transport import GrpcTransport
from tests.support import Wallet

Connect = Callable[[SigningKey], PaymentsAPI]


@dataclass
class Engines:
    """One engine under test, and the users of the wallet behind it."""

    kind: str
    wallet: Wallet
    connect: Connect
    server: RunningServer | None = None
    warnings: list[str] = field(default_factory=list)

    def api(self, handle: str) -> PaymentsAPI:
        """`handle`'s PaymentsAPI, signing with the device key the wallet holds for them."""
        return self.connect(self.wallet.keys[handle])

    def api_for_key(self, key: SigningKey) -> PaymentsAPI:
        """A PaymentsAPI signing with any key, registered or not."""
        return self.connect(key)

    def add_user(self, handle: str, role: Role = Role.USER) -> PaymentsAPI:
        """Register a user (through the admin's API on this engine) with a new device key."""
        key = SigningKey.generate()
        self.api("alice").create_user(handle=handle, role=role, public_key=key.public_key)
        self.wallet.keys[handle] = key
        return self.api(handle)


def _local(wallet: Wallet, _tmp: Path, _stack: ExitStack, _warn: list[str]) -> Engines:
    # The in-process transport's close() closes the shared engine: the wallet fixture
    # closes it once, at teardown, so these clients are never closed one by one.
    return Engines(
        "local", wallet, lambda key: SignedClient(InProcessTransport(wallet.engine), key)
    )


def _serve(wallet: Wallet, stack: ExitStack) -> RunningServer:
    server = start_server(wallet.engine, "127.0.0.1:0")
    stack.callback(server.stop)
    return server


def _remote_client(server: RunningServer, stack: ExitStack, key: SigningKey) -> SignedClient:
    client = SignedClient(GrpcTransport(f"127.0.0.1:{server.port}"), key)
    stack.callback(client.close)
    return client


def _remote(wallet: Wallet, _tmp: Path, stack: ExitStack, _warn: list[str]) -> Engines:
    server = _serve(wallet, stack)
    return Engines("remote", wallet, lambda key: _remote_client(server, stack, key), server=server)


def _remote_cached(wallet: Wallet, tmp: Path, stack: ExitStack, warn: list[str]) -> Engines:
    server = _serve(wallet, stack)

    def connect(key: SigningKey) -> PaymentsAPI:
        remote = SignedClient(GrpcTransport(f"127.0.0.1:{server.port}"), key)
        # One cache per device key, as the CLI keeps one per profile and user.
        cache = HistoryCache(tmp / "history-cache" / f"{key.key_id}.db")
        cached = CachingEngine(remote, cache, warn=warn.append)
        stack.callback(cached.close)
        return cached

    return Engines("remote+cache", wallet, connect, server=server, warnings=warn)


ENGINES: dict[str, Callable[[Wallet, Path, ExitStack, list[str]], Engines]] = {
    "local": _local,
    "remote": _remote,
    "remote+cache": _remote_cached,
}


@pytest.fixture(params=list(ENGINES))
def engines(request: pytest.FixtureRequest, wallet: Wallet, tmp_path: Path) -> Iterator[Engines]:
    """The wallet's users on each engine in turn (ids: local, remote, remote+cache)."""
    build = ENGINES[request.param]
    with ExitStack() as stack:
        yield build(wallet, tmp_path, stack, [])


@dataclass
class Served:
    """A wallet served over gRPC on a free port: in-process and remote side by side."""

    wallet: Wallet
    server: RunningServer

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.server.port}"


@pytest.fixture
def served(wallet: Wallet) -> Iterator[Served]:
    server = start_server(wallet.engine, "127.0.0.1:0")
    try:
        yield Served(wallet, server)
    finally:
        server.stop()
