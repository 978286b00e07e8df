from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.pgcluster import Cluster, running_cluster
from tests.support import Clock, Wallet


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def wallet(tmp_path: Path, clock: Clock) -> Iterator[Wallet]:
    w = Wallet.create(tmp_path / "wallet.db", clock=clock)
    yield w
    w.close()


@pytest.fixture
def cpay_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated CPAY_HOME with a file key store and a passphrase in the environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("CPAY_HOME", str(home))
    monkeypatch.setenv("CPAY_KEYSTORE", "file")
    monkeypatch.setenv("CPAY_KEY_PASSPHRASE", "correct horse battery staple")
    monkeypatch.delenv("CPAY_PROFILE", raising=False)
    monkeypatch.delenv("CPAY_KEY_PASSPHRASE_FILE", raising=False)
    return home


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster per test process (started here, stopped at the end)."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def pg_dsn(pg_cluster: Cluster) -> str:
    """A fresh, empty database on the throwaway cluster."""
    return pg_cluster.create_database()
