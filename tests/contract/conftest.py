"""The engines the contract suite runs on, parametrized in one place.

Every engine serves the users of one real wallet (tests.support.Wallet, SQLite on a
temporary file); `Engines.api(handle)` gives that user's PaymentsAPI on the engine
under test:

- "local":        SignedClient over InProcessTransport (Wallet.client);
- "remote":       SignedClient over GrpcTransport to start_server(wallet.engine);
- "remote+cache": the remote client wrapped in cpay_cli.cache.CachingEngine.

ENGINES is the one parametrization: engine id -> (store, face). The PostgreSQL store
runs in-process and behind a gRPC server ("postgres", "postgres+remote"), on a fresh
database of the throwaway cluster the suite starts itself.
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
from cpay_engine.bootstrap import parse_db_url
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


# --- stores: where the wallet lives --------------------------------------------------------


def _sqlite_wallet(request: pytest.FixtureRequest) -> Wallet:
    """tests.conftest's `wallet`: SQLite on a temporary file, closed by that fixture."""
    wallet: Wallet = request.getfixturevalue("wallet")
    return wallet


def _postgres_wallet(request: pytest.FixtureRequest) -> Wallet:
    """The same wallet on a fresh database of the suite's throwaway PostgreSQL cluster."""
    dsn: str = request.getfixturevalue("pg_dsn")
    wallet = Wallet.create_at(parse_db_url(dsn), clock=request.getfixturevalue("clock"))
    request.addfinalizer(wallet.close)
    return wallet


STORES: dict[str, Callable[[pytest.FixtureRequest], Wallet]] = {
    "sqlite": _sqlite_wallet,
    "postgres": _postgres_wallet,
}


# --- faces: how a front end reaches the engine ---------------------------------------------


@dataclass
class Face:
    connect: Connect
    server: RunningServer | None = None


def _in_process(wallet: Wallet, _tmp: Path, _stack: ExitStack, _warn: list[str]) -> Face:
    # InProcessTransport.close() closes the shared engine, which the store's fixture
    # closes once at teardown: these clients are never closed one by one.
    return Face(lambda key: SignedClient(InProcessTransport(wallet.engine), key))


def _serve(wallet: Wallet, stack: ExitStack) -> RunningServer:
    server = start_server(wallet.engine, "127.0.0.1:0")
    stack.callback(server.stop)
    return server


def _grpc(wallet: Wallet, _tmp: Path, stack: ExitStack, _warn: list[str]) -> Face:
    server = _serve(wallet, stack)

    def connect(key: SigningKey) -> PaymentsAPI:
        client = SignedClient(GrpcTransport(f"127.0.0.1:{server.port}"), key)
        stack.callback(client.close)
        return client

    return Face(connect, server)


def _grpc_cached(wallet: Wallet, tmp: Path, stack: ExitStack, warn: list[str]) -> Face:
    server = _serve(wallet, stack)

    def connect(key: SigningKey) -> PaymentsAPI:
        remote = SignedClient(GrpcTransport(f"127.0.0.1:{server.port}"), key)
        # One cache per device key, as the CLI keeps one per profile and user.
        cache = HistoryCache(tmp / "history-cache" / f"{key.key_id}.db")
        cached = CachingEngine(remote, cache, warn=warn.append)
        stack.callback(cached.close)
        return cached

    return Face(connect, server)


FACES: dict[str, Callable[[Wallet, Path, ExitStack, list[str]], Face]] = {
    "in-process": _in_process,
    "grpc": _grpc,
    "grpc+cache": _grpc_cached,
}


# --- the one parametrization: engine id -> (store, face) -----------------------------------

ENGINES: dict[str, tuple[str, str]] = {
    "local": ("sqlite", "in-process"),
    "remote": ("sqlite", "grpc"),
    "remote+cache": ("sqlite", "grpc+cache"),
    "postgres": ("postgres", "in-process"),
    "postgres+remote": ("postgres", "grpc"),
}


@pytest.fixture(params=list(ENGINES))
def engines(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engines]:
    """The wallet's users on each engine in turn (ids: the keys of ENGINES)."""
    store, face = ENGINES[request.param]
    wallet = STORES[store](request)
    warnings: list[str] = []
    with ExitStack() as stack:
        built = FACES[face](wallet, tmp_path, stack, warnings)
        yield Engines(request.param, wallet, built.connect, built.server, warnings)


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
