"""cpay_engine.domain.query: every token of the history query language, and its errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cpay_engine.domain.model import Direction, TxStatus
from cpay_engine.domain.query import (
    EARLIEST_MS,
    MAX_QUERY_WORDS,
    HistoryFilter,
    parse_query,
    parse_when,
    validated,
)
from cpay_engine.errors import InvalidInput

NOW_MS = 1_795_780_800_000  # 2026-11-27 12:00 UTC: the docstring example is a real window
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS


def epoch_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


def test_the_docstring_example_sets_every_field() -> None:
    f = parse_query(
        "rent @bob currency:DBL status:failed in amount:10..50 after:2026-11-01 before:7d", NOW_MS
    )
    assert f == HistoryFilter(
        words=("rent",),
        counterparty="bob",
        currency="DBL",
        status=TxStatus.FAILED,
        direction=Direction.IN,
        min_amount_minor=1000,
        max_amount_minor=5000,
        since_ms=epoch_ms(datetime(2026, 11, 1, tzinfo=UTC)),
        until_ms=NOW_MS - 7 * DAY_MS,
    )


def test_an_empty_query_is_the_empty_filter() -> None:
    assert parse_query("", NOW_MS).is_empty()
    assert parse_query("   ", NOW_MS).is_empty()


def test_bare_words_are_all_kept_in_order() -> None:
    f = parse_query("rent  march flat", NOW_MS)
    assert f.words == ("rent", "march", "flat")
    assert f.text == "rent march flat"


def test_sixteen_words_are_taken_and_seventeen_are_refused_saying_the_limit() -> None:
    assert len(parse_query(" ".join(["w"] * MAX_QUERY_WORDS), NOW_MS).words) == MAX_QUERY_WORDS
    with pytest.raises(InvalidInput, match=f"17 words; at most {MAX_QUERY_WORDS}"):
        parse_query(" ".join(["w"] * (MAX_QUERY_WORDS + 1)), NOW_MS)
    with pytest.raises(InvalidInput, match=f"at most {MAX_QUERY_WORDS}"):  # from another program
        validated(HistoryFilter(words=("w",) * 5000))


@pytest.mark.parametrize("query", ["@bob", "@Bob", "with:bob", "with:@bob", "WITH:bob"])
def test_the_counterparty_is_given_with_an_at_sign_or_with(query: str) -> None:
    f = parse_query(query, NOW_MS)
    assert f.counterparty == "bob"
    assert f.words == ()


@pytest.mark.parametrize("query", ["@b", "with:", "with:1bob"])
def test_a_malformed_counterparty_is_rejected(query: str) -> None:
    with pytest.raises(InvalidInput):
        parse_query(query, NOW_MS)


@pytest.mark.parametrize("query", ["@treasury", "with:Treasury", "from:@treasury"])
def test_mints_are_found_by_their_counterparty_the_treasury(query: str) -> None:
    """History lists mints as from `treasury`: a filter takes what the list shows."""
    assert parse_query(query, NOW_MS).counterparty == "treasury"


@pytest.mark.parametrize(("query", "expected"), [("currency:usd", "USD"), ("currency:DBL", "DBL")])
def test_currency_is_normalized_to_its_upper_case_code(query: str, expected: str) -> None:
    assert parse_query(query, NOW_MS).currency == expected


def test_an_unknown_currency_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="unknown currency"):
        parse_query("currency:XXX", NOW_MS)


@pytest.mark.parametrize("status", list(TxStatus))
def test_every_status_is_accepted_in_any_case(status: TxStatus) -> None:
    assert parse_query(f"status:{status.value}", NOW_MS).status is status
    assert parse_query(f"status:{status.value.upper()}", NOW_MS).status is status


def test_a_bad_status_is_rejected_with_the_valid_choices() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query("status:done", NOW_MS)
    assert "'done' is not a status" in caught.value.message
    assert "pending|completed|failed|unknown" in caught.value.message


@pytest.mark.parametrize(
    ("token", "direction"), [("in", Direction.IN), ("out", Direction.OUT), ("OUT", Direction.OUT)]
)
def test_in_and_out_select_the_direction(token: str, direction: Direction) -> None:
    f = parse_query(token, NOW_MS)
    assert f.direction is direction
    assert f.words == ()


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        ("12.50", 1250, 1250),
        (">10", 1001, 0),  # strictly more: one minor unit up
        (">=10", 1000, 0),
        ("<5", 0, 499),  # strictly less
        ("<=5", 0, 500),
        ("10..50", 1000, 5000),
        ("10..10", 1000, 1000),
        ("10..", 1000, 0),
        ("..50", 0, 5000),
    ],
)
def test_amount_bounds_are_minor_units_in_dabloons_by_default(
    spec: str, low: int, high: int
) -> None:
    f = parse_query(f"amount:{spec}", NOW_MS)
    assert (f.min_amount_minor, f.max_amount_minor) == (low, high)


def test_amounts_use_the_query_currency_wherever_it_appears() -> None:
    assert parse_query("amount:1500 currency:JPY", NOW_MS).min_amount_minor == 1500
    assert parse_query("currency:KWD amount:1.5", NOW_MS).max_amount_minor == 1500


@pytest.mark.parametrize(
    "query", ["amount:1.001", "amount:1.5 currency:JPY", "amount:abc", "amount:>", "amount:-5"]
)
def test_a_bad_amount_is_rejected(query: str) -> None:
    with pytest.raises(InvalidInput):
        parse_query(query, NOW_MS)


@pytest.mark.parametrize(
    ("query", "low", "high"),
    [
        ("amount:>5 amount:<20", 501, 1999),
        ("amount:<20 amount:>=5", 500, 1999),
        ("amount:5..50 amount:<=20", 500, 2000),
        ("amount:>5 amount:>7", 701, 0),
    ],
)
def test_several_amount_bounds_combine_into_one_range(query: str, low: int, high: int) -> None:
    f = parse_query(query, NOW_MS)
    assert (f.min_amount_minor, f.max_amount_minor) == (low, high)


@pytest.mark.parametrize("query", ["amount:>20 amount:<5", "amount:10 amount:11", "amount:<0.01"])
def test_amount_bounds_that_leave_nothing_are_rejected(query: str) -> None:
    with pytest.raises(InvalidInput):
        parse_query(query, NOW_MS)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("@bob @carol", "'@bob' and '@carol' ask for two different counterparties"),
        ("in out", "'in' and 'out' ask for two different directions"),
        ("status:failed status:completed", "two different statuses"),
        ("currency:DBL currency:USD", "two different currencies"),
        ("@bob with:carol", "two different counterparties"),
    ],
)
def test_two_values_for_a_single_valued_field_are_refused_not_dropped(
    query: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query(query, NOW_MS)
    assert says in caught.value.message


def test_the_same_value_twice_is_fine() -> None:
    assert parse_query("@bob with:bob status:failed STATUS:FAILED", NOW_MS).counterparty == "bob"


def test_time_bounds_combine_and_an_empty_window_is_refused() -> None:
    f = parse_query("after:2026-11-01 after:2026-11-05 before:2026-11-20", NOW_MS)
    assert f.since_ms == parse_query("after:2026-11-05", NOW_MS).since_ms
    assert f.until_ms == parse_query("before:2026-11-20", NOW_MS).until_ms
    with pytest.raises(InvalidInput) as caught:
        parse_query("after:1970-01-01 before:1960-01-01", NOW_MS)
    assert "no time between them" in caught.value.message


def test_an_amount_filter_without_a_value_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query("amount:", NOW_MS)
    assert "amount: needs a value" in caught.value.message


def test_an_empty_amount_range_is_rejected() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query("amount:50..10", NOW_MS)
    assert "empty" in caught.value.message
    assert "50..10" in caught.value.message


@pytest.mark.parametrize(
    ("age", "delta_ms"),
    [("30m", 30 * MINUTE_MS), ("24h", 24 * HOUR_MS), ("7d", 7 * DAY_MS), ("2w", 14 * DAY_MS)],
)
def test_ages_count_back_from_now(age: str, delta_ms: int) -> None:
    assert parse_when(age, NOW_MS) == NOW_MS - delta_ms
    assert parse_query(f"after:{age}", NOW_MS).since_ms == NOW_MS - delta_ms
    assert parse_query(f"before:{age}", NOW_MS).until_ms == NOW_MS - delta_ms


@pytest.mark.parametrize("when", ["1900-01-01", "0001-01-01T00:00", "999999w"])
def test_a_time_before_the_epoch_is_the_earliest_bound_not_an_error(when: str) -> None:
    assert parse_when(when, NOW_MS) == EARLIEST_MS
    assert parse_query(f"before:{when}", NOW_MS).until_ms == EARLIEST_MS  # a bound, not 0


def test_a_date_is_midnight_utc() -> None:
    assert parse_when("2026-11-01", NOW_MS) == epoch_ms(datetime(2026, 11, 1, tzinfo=UTC))


def test_a_timestamp_without_offset_is_utc() -> None:
    expected = epoch_ms(datetime(2026, 11, 1, 9, 30, tzinfo=UTC))
    assert parse_when("2026-11-01T09:30", NOW_MS) == expected
    assert parse_query("after:2026-11-01T09:30:00", NOW_MS).since_ms == expected


def test_a_timestamp_with_an_offset_keeps_its_offset() -> None:
    plus_two = timezone(timedelta(hours=2))
    expected = epoch_ms(datetime(2026, 11, 1, 9, 30, tzinfo=plus_two))
    assert parse_when("2026-11-01T09:30+02:00", NOW_MS) == expected
    assert expected == epoch_ms(datetime(2026, 11, 1, 7, 30, tzinfo=UTC))


@pytest.mark.parametrize(
    "when", ["yesterday", "7", "7y", "-7d", "2026-13-01", "2026-11-01T25:00", "", "1234567d"]
)
def test_a_bad_time_is_rejected_with_the_accepted_forms(when: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_when(when, NOW_MS)
    assert "is not a time" in caught.value.message
    for query in (f"after:{when}", f"before:{when}"):
        with pytest.raises(InvalidInput):
            parse_query(query, NOW_MS)


def test_an_unknown_filter_is_rejected_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_query("rent colour:blue", NOW_MS)
    assert "unknown filter 'colour:'" in caught.value.message
    assert "status:" in caught.value.message


def test_a_word_ending_in_a_colon_is_a_plain_word() -> None:
    assert parse_query("note:", NOW_MS).words == ("note:",)
