"""The history query language shared by `cpay history --query` and the TUI filter bar.

    rent @bob currency:DBL status:failed in amount:10..50 after:2026-11-01 before:7d

- bare words match memo or counterparty (all must match);
- `@handle` or `with:handle` — the counterparty;
- `currency:XXX`, `status:pending|completed|failed|unknown`, `in` / `out`;
- `amount:N`, `amount:>N`, `amount:>=N`, `amount:<N`, `amount:<=N`, `amount:N..M` (in the
  query's currency, DBL by default; `>` and `<` are strict, `N..M` includes both ends);
- `after:WHEN`, `before:WHEN` where WHEN is a date, an ISO timestamp (UTC unless it has an
  offset) or an age such as 30m, 24h, 7d, 2w.

Terms combine: several amount or time bounds all apply (`amount:>5 amount:<20` is a range);
two different values for what a transaction has only one of (counterparty, currency,
status, direction) are refused rather than one silently dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from cpay_engine.domain.model import (
    MAX_MEMO_CHARS,
    TREASURY_HANDLE,
    Direction,
    TxStatus,
    parse_handle,
)
from cpay_engine.domain.money import DABLOON, parse_amount, parse_currency
from cpay_engine.errors import InvalidInput, quoted


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    words: tuple[str, ...] = ()
    counterparty: str = ""
    currency: str = ""
    status: TxStatus | None = None
    direction: Direction | None = None
    min_amount_minor: int = 0
    max_amount_minor: int = 0
    since_ms: int = 0
    until_ms: int = 0

    @property
    def text(self) -> str:
        return " ".join(self.words)

    def is_empty(self) -> bool:
        return self == HistoryFilter()


DEFAULT_PAGE = 50
MAX_PAGE = 500


FIRST = "c1.0"  # the cursor before the oldest row: after_cursor=FIRST reads from the start


def encode_cursor(seq: int) -> str:
    """History cursors are opaque to clients; this is their one encoder."""
    return f"c1.{seq}"


def decode_cursor(text: str) -> int:
    """'' -> 0 (no bound); anything not made by encode_cursor is InvalidInput."""
    if not text:
        return 0
    prefix, _, seq = text.partition(".")
    if prefix != "c1" or not seq.isdigit():
        raise InvalidInput("the history cursor is not one this server gave out: start over")
    return int(seq)


def check_limit(limit: int) -> int:
    """0 is the wire's 'not set' and means the default page."""
    limit = limit or DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    return limit


# Each word is a condition of the search (SQLite refuses expressions nested past 1,000).
MAX_QUERY_WORDS = 16


def _check_words(words: tuple[str, ...]) -> None:
    if len(words) > MAX_QUERY_WORDS:
        raise InvalidInput(
            f"the search has {len(words)} words; at most {MAX_QUERY_WORDS} are taken: "
            "keep the ones that narrow it most"
        )
    longest = max(words, key=len, default="")
    if len(longest) > MAX_MEMO_CHARS:  # it could match nothing (and SQLite caps patterns)
        raise InvalidInput(
            f"the search word {quoted(longest)} is longer than any memo ({MAX_MEMO_CHARS} "
            "characters): search for a part of it"
        )


def validated(f: HistoryFilter) -> HistoryFilter:
    """Normalize a filter that may come from another program ('@Bob' -> 'bob', 'dbl' -> 'DBL')."""
    if f.min_amount_minor < 0 or f.max_amount_minor < 0 or f.since_ms < 0 or f.until_ms < 0:
        raise InvalidInput("history filter bounds cannot be negative")
    _check_words(f.words)
    return replace(
        f,
        counterparty=parse_counterparty(f.counterparty) if f.counterparty else "",
        currency=parse_currency(f.currency) if f.currency else "",
    )


_AGE_RE = re.compile(r"\A(\d{1,6})([mhdw])\Z", re.ASCII)
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration_s(text: str) -> int:
    """'30m', '24h', '7d', '2w' -> seconds."""
    m = _AGE_RE.match(text)
    if not m or int(m.group(1)) == 0:
        raise InvalidInput(f"{quoted(text)} is not a duration: use 30m, 24h, 7d or 2w")
    return int(timedelta(**{_AGE_UNITS[m.group(2)]: int(m.group(1))}).total_seconds())


# The earliest time a filter names: no transaction is older than the epoch, so an older
# time ("since 1900", "999999w") means from the beginning. Not 0, which means "no bound":
# "before:1900-01-01" must find nothing, not everything.
EARLIEST_MS = 1


def parse_when(text: str, now_ms: int) -> int:
    """A date, ISO timestamp or age ('7d') -> epoch milliseconds (EARLIEST_MS at least)."""
    return max(_parse_when(text, now_ms), EARLIEST_MS)


def _parse_when(text: str, now_ms: int) -> int:
    m = _AGE_RE.match(text)
    if m:
        delta = timedelta(**{_AGE_UNITS[m.group(2)]: int(m.group(1))})
        return now_ms - int(delta.total_seconds() * 1000)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{quoted(text)} is not a time: use a date (2026-11-01), an ISO timestamp "
            f"(2026-11-01T09:30) or an age (30m, 24h, 7d, 2w)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse_counterparty(text: str) -> str:
    """A handle to filter history by: any user's, or the treasury (mints come from it)."""
    if text.removeprefix("@").lower() == TREASURY_HANDLE:
        return TREASURY_HANDLE
    return parse_handle(text)


def parse_query(query: str, now_ms: int) -> HistoryFilter:
    f = HistoryFilter()
    words: list[str] = []
    amount_specs: list[str] = []
    chosen: dict[str, tuple[str, str]] = {}  # single-valued field -> (as typed, value)

    def one(field: str, token: str, value: str) -> None:
        """A field a transaction has one value of: a second, different value is refused."""
        earlier = chosen.setdefault(field, (token, value))
        if earlier[1] != value:
            raise InvalidInput(
                f"{quoted(earlier[0])} and {quoted(token)} ask for two different {field}; a "
                f"transaction has one: keep one of them"
            )

    for token in query.split():
        key, sep, value = token.partition(":")
        key = key.lower()
        if token.startswith("@"):
            one("counterparties", token, parse_counterparty(token))
        elif token.lower() in ("in", "out"):
            one("directions", token, Direction(token.lower()).value)
        elif sep and key in ("with", "to", "from"):
            one("counterparties", token, parse_counterparty(value))
        elif sep and key == "currency":
            one("currencies", token, parse_currency(value))
        elif sep and key == "status":
            try:
                one("statuses", token, TxStatus(value.lower()).value)
            except ValueError:
                choices = "|".join(s.value for s in TxStatus)
                raise InvalidInput(f"{quoted(value)} is not a status: use {choices}") from None
        elif sep and key == "amount":
            if not value:
                raise InvalidInput("amount: needs a value, e.g. amount:10, amount:>5, amount:5..20")
            amount_specs.append(value)
        elif sep and key in ("after", "since"):
            f = bounded(f, since_ms=parse_when(value, now_ms))
        elif sep and key in ("before", "until"):
            f = bounded(f, until_ms=parse_when(value, now_ms))
        elif sep and key.isalpha() and value:
            raise InvalidInput(
                f"unknown filter {quoted(key + ':')} — use with:, currency:, status:, amount:, "
                "after:, before:"
            )
        else:
            words.append(token)
    _check_words(tuple(words))
    picked = {field: typed for field, (_, typed) in chosen.items()}
    status, direction = picked.get("statuses"), picked.get("directions")
    f = replace(
        f,
        words=tuple(words),
        counterparty=picked.get("counterparties", ""),
        currency=picked.get("currencies", ""),
        status=TxStatus(status) if status else None,
        direction=Direction(direction) if direction else None,
    )
    for spec in amount_specs:
        f = _apply_amount(f, spec)
    return f


def bounded(f: HistoryFilter, *, since_ms: int = 0, until_ms: int = 0) -> HistoryFilter:
    """`f` with another time bound: bounds combine (the later start, the earlier end)."""
    if since_ms:
        f = replace(f, since_ms=max(f.since_ms, since_ms))
    if until_ms:
        f = replace(f, until_ms=min(f.until_ms, until_ms) if f.until_ms else until_ms)
    if f.since_ms and f.until_ms and f.since_ms >= f.until_ms:
        raise InvalidInput(
            "the time bounds leave no time between them (after is not before before): "
            "widen or drop one"
        )
    return f


def _apply_amount(f: HistoryFilter, spec: str) -> HistoryFilter:
    """Another amount bound on `f` (bounds combine into the range all of them allow)."""
    currency = f.currency or DABLOON
    lo = hi = 0
    if spec.startswith(">="):
        lo = parse_amount(spec[2:], currency)
    elif spec.startswith(">"):
        lo = parse_amount(spec[1:], currency) + 1  # strictly more: one minor unit up
    elif spec.startswith("<="):
        hi = parse_amount(spec[2:], currency)
    elif spec.startswith("<"):
        hi = parse_amount(spec[1:], currency) - 1  # strictly less
        if hi < 1:
            raise InvalidInput(f"amount:{spec} matches nothing: no amount is below the smallest")
    elif ".." in spec:
        low_text, _, high_text = spec.partition("..")
        lo = parse_amount(low_text, currency) if low_text else 0
        hi = parse_amount(high_text, currency) if high_text else 0
        if lo and hi and lo > hi:
            raise InvalidInput(f"amount range {quoted(spec)} is empty: put the smaller bound first")
    else:
        lo = hi = parse_amount(spec, currency)
    low = max(f.min_amount_minor, lo)
    high = min(f.max_amount_minor, hi) if f.max_amount_minor and hi else hi or f.max_amount_minor
    if low and high and low > high:
        raise InvalidInput(
            f"amount:{spec} leaves no amount with the other amount bounds: widen or drop one"
        )
    return replace(f, min_amount_minor=low, max_amount_minor=high)
