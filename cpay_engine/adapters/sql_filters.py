"""HistoryFilter to SQL conditions, shared by the stores and the client's history cache.

Each caller names its columns (they differ: the ledger joins tx_parties, the cache has
one flat table); words are left to the caller, whose search machinery differs. Both
keep their rows in a table called `transactions` with `seq` and `created_at_ms`.

Time bounds also become seq bounds. The client cache has an index on `created_at_ms`
and lets a subquery find them; the ledger has none (one index fewer to write at every
payment) and passes `seq_window`, found by bisecting seq (SqlUnitOfWork.history).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cpay_engine.domain.query import HistoryFilter

NO_SEQ = 2**62  # larger than any seq: "no row is in the window"
# How far a clock may step back (NTP, or servers' clocks disagreeing, which the engine's
# freshness window already bounds to ±300 s) without a row slipping out of a time window.
CLOCK_SLACK_MS = 15 * 60 * 1000


@dataclass(frozen=True)
class Columns:
    seq: str
    counterparty: str
    currency: str
    status: str
    direction: str
    amount: str
    created_at: str


def filter_conditions(
    f: HistoryFilter,
    c: Columns,
    *,
    before_seq: int = 0,
    after_seq: int | None = None,
    seq_window: tuple[int, int] | None = None,
) -> tuple[list[str], list[Any]]:
    """(conditions joined by AND, their `?` arguments) for everything but the words.

    `seq_window` (low, high): rows with seq <= low are stamped before f.since_ms and rows
    with seq >= high at or after f.until_ms, found by the caller; without it, subqueries
    on an index of `created_at_ms` find them."""
    where: list[str] = []
    args: list[Any] = []

    def add(condition: str, value: Any) -> None:
        where.append(condition)
        args.append(value)

    if before_seq:
        add(f"{c.seq} < ?", before_seq)
    if after_seq:
        add(f"{c.seq} > ?", after_seq)
    if f.counterparty:
        add(f"{c.counterparty} = ?", f.counterparty)
    if f.currency:
        add(f"{c.currency} = ?", f.currency)
    if f.status:
        add(f"{c.status} = ?", f.status.value)
    if f.direction:
        add(f"{c.direction} = ?", f.direction.value)
    if f.min_amount_minor:
        add(f"{c.amount} >= ?", f.min_amount_minor)
    if f.max_amount_minor:
        add(f"{c.amount} <= ?", f.max_amount_minor)
    # Time bounds also become seq bounds (one index probe each), so a newest-first scan
    # stops near the window's edge instead of reading every older row. The exact time
    # condition stays. The seq bound comes from the last row stamped CLOCK_SLACK_MS before
    # the window: a row earlier in seq order but stamped inside the window would need a
    # clock to have stepped back by more than the slack in between.
    if f.since_ms:
        add(f"{c.created_at} >= ?", f.since_ms)
        if seq_window is not None:
            add(f"{c.seq} > ?", seq_window[0])
        else:
            add(
                f"{c.seq} > coalesce((SELECT seq FROM transactions WHERE created_at_ms < ? "
                "ORDER BY created_at_ms DESC LIMIT 1), 0)",
                f.since_ms - CLOCK_SLACK_MS,
            )
    if f.until_ms:
        add(f"{c.created_at} < ?", f.until_ms)
        if seq_window is not None:
            add(f"{c.seq} < ?", seq_window[1])
        else:
            add(
                f"{c.seq} < coalesce((SELECT seq FROM transactions WHERE created_at_ms >= ? "
                f"ORDER BY created_at_ms LIMIT 1), {NO_SEQ})",
                f.until_ms + CLOCK_SLACK_MS,
            )
    return where, args


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(word: str) -> str:
    """A LIKE pattern matching `word` anywhere, with LIKE's wildcards escaped by '\\'."""
    return "%" + _like_escaped(word) + "%"


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching what starts with `prefix` (wildcards escaped by '\\')."""
    return _like_escaped(prefix) + "%"


def prefix_range(prefix: str) -> tuple[str, str]:
    """Bounds [low, high) of the strings starting with `prefix` under SQLite's bytewise
    (BINARY) comparison, so that an index on the column answers a prefix match."""
    return prefix, prefix + "\U0010ffff"
