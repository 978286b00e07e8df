"""The remote client's history cache file: a damaged one is kept aside, never fatal.

The cache only mirrors the server's history (it refills at the next sync), so a file
that SQLite cannot read must not stop `cpay balance` or `cpay history` with an internal
error; it is renamed, not deleted, and the user is told where it went.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cpay_cli.cache import HistoryCache
from cpay_engine.api import TransactionView
from cpay_engine.domain.model import Direction, TxKind, TxStatus

ROW = TransactionView(
    id="pay-cache-01",
    seq=7,
    kind=TxKind.PAYMENT,
    status=TxStatus.COMPLETED,
    created_at_ms=1_790_000_000_000,
    from_handle="alice",
    to_handle="bob",
    amount_minor=1_250,
    currency="DBL",
    memo="lunch",
    direction=Direction.OUT,
    counterparty="@bob",
)


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(b"garbage, not SQLite\n", id="not-a-database"),
        pytest.param(b"SQLite format 3\x00" + b"\xff" * 84, id="broken-header"),
    ],
)
def test_a_damaged_cache_file_is_kept_aside_and_a_new_cache_works(
    tmp_path: Path, damage: bytes
) -> None:
    path = tmp_path / "cache" / "alice.db"
    path.parent.mkdir()
    path.write_bytes(damage)
    warnings: list[str] = []

    cache = HistoryCache(path, warn=warnings.append)
    cache.upsert([ROW])
    found = cache.get("pay-cache-01")
    cache.close()

    [kept] = [p for p in path.parent.iterdir() if p.name.startswith("alice.db.damaged-")]
    assert kept.read_bytes() == damage
    assert found == ROW
    [warning] = warnings
    assert str(path) in warning
    assert str(kept) in warning
    assert "refills from the server" in warning


def test_an_intact_cache_file_is_reopened_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "alice.db"
    first = HistoryCache(path)
    first.upsert([ROW])
    first.close()
    warnings: list[str] = []

    again = HistoryCache(path, warn=warnings.append)
    found = again.get("pay-cache-01")
    again.close()

    assert found == ROW
    assert warnings == []
    assert sorted(p.name for p in tmp_path.iterdir() if "damaged" in p.name) == []
