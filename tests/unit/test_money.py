"""cpay_engine.domain.money: ISO exponents, strict amount parsing, exact formatting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cpay_engine.domain.money import (
    CURRENCY_EXPONENTS,
    MAX_AMOUNT_MINOR,
    exponent,
    format_amount,
    parse_amount,
    parse_currency,
)
from cpay_engine.errors import InvalidInput

OVER_MAXIMUM_USD = format_amount(MAX_AMOUNT_MINOR + 1, "USD")


@pytest.mark.parametrize(
    ("currency", "expected"),
    [("JPY", 0), ("USD", 2), ("EUR", 2), ("KWD", 3), ("BHD", 3), ("DBL", 2)],
)
def test_currency_exponents_follow_iso_4217(currency: str, expected: int) -> None:
    assert exponent(currency) == expected
    assert CURRENCY_EXPONENTS[currency] == expected


@pytest.mark.parametrize(
    ("text", "expected_minor"),
    [("12.50", 1250), ("12.5", 1250), ("12", 1200), ("0.01", 1)],
)
def test_well_formed_usd_amounts_parse_to_minor_units(text: str, expected_minor: int) -> None:
    assert parse_amount(text, "USD") == expected_minor


def test_amounts_scale_by_the_currency_exponent() -> None:
    assert parse_amount("12", "JPY") == 12
    assert parse_amount("1.001", "KWD") == 1001
    assert parse_amount("1.5", "BHD") == 1500
    assert parse_amount("0.01", "DBL") == 1


def test_the_documented_maximum_itself_is_accepted() -> None:
    assert parse_amount(format_amount(MAX_AMOUNT_MINOR, "USD"), "USD") == MAX_AMOUNT_MINOR


def test_a_lowercase_currency_code_is_accepted_as_the_upper_case_code() -> None:
    assert parse_currency("usd") == "USD"
    assert parse_amount("1.25", "usd") == parse_amount("1.25", "USD") == 125


@pytest.mark.parametrize(
    ("text", "currency", "message_fragment"),
    [
        # more decimals than the currency has: rejected, never rounded
        ("1.001", "USD", "USD amounts take at most 2 decimals; '1.001' has 3"),
        ("1.5", "JPY", "JPY amounts take no decimals; '1.5' has 1"),
        ("1.0001", "KWD", "KWD amounts take at most 3 decimals; '1.0001' has 4"),
        # signs
        ("-1", "USD", "not an amount"),
        ("+1", "USD", "not an amount"),
        # zero
        ("0", "USD", "greater than zero"),
        ("0.00", "USD", "greater than zero"),
        # not numbers
        ("NaN", "USD", "not an amount"),
        ("nan", "USD", "not an amount"),
        ("Infinity", "USD", "not an amount"),
        ("inf", "USD", "not an amount"),
        # exponents
        ("1e3", "USD", "not an amount"),
        ("1E2", "USD", "not an amount"),
        # thousands separators
        ("1,000", "USD", "not an amount"),
        ("1_000", "USD", "not an amount"),
        ("1 000", "USD", "not an amount"),
        # spaces
        (" 1", "USD", "not an amount"),
        ("1 ", "USD", "not an amount"),
        ("1\n", "USD", "not an amount"),
        # non-ASCII digits (Arabic-Indic, fullwidth)
        ("١٢", "USD", "not an amount"),
        ("１２", "USD", "not an amount"),
        # incomplete numbers
        ("", "USD", "not an amount"),
        (".5", "USD", "not an amount"),
        ("5.", "USD", "not an amount"),
        ("12$", "USD", "not an amount"),
        # over the documented maximum
        (OVER_MAXIMUM_USD, "USD", "maximum"),
        # currency codes
        ("1", "XXX", "unknown currency"),
        ("1", "US", "not a currency code"),
        ("1", "USDD", "not a currency code"),
        ("1", "", "not a currency code"),
    ],
)
def test_bad_amount_input_is_rejected_with_a_message_naming_the_problem(
    text: str, currency: str, message_fragment: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(text, currency)
    assert message_fragment in caught.value.message
    assert caught.value.code == "invalid_input"


def test_an_amount_with_thousands_of_digits_is_rejected_as_invalid_input() -> None:
    # Far over the maximum. Python refuses int() of more than 4300 digits with ValueError;
    # the parser must still answer with InvalidInput, never a bare ValueError.
    with pytest.raises(InvalidInput) as caught:
        parse_amount("1" * 5000, "USD")
    assert format_amount(MAX_AMOUNT_MINOR, "USD") in caught.value.message


def test_the_over_maximum_message_names_the_maximum() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(OVER_MAXIMUM_USD, "USD")
    assert format_amount(MAX_AMOUNT_MINOR, "USD") in caught.value.message


def test_format_amount_writes_exactly_the_currency_exponent_digits() -> None:
    assert format_amount(1250, "USD") == "12.50"
    assert format_amount(1, "DBL") == "0.01"
    assert format_amount(12, "JPY") == "12"
    assert format_amount(1001, "KWD") == "1.001"
    assert format_amount(-1250, "EUR") == "-12.50"
    assert format_amount(MAX_AMOUNT_MINOR, "USD") == "10000000000000.00"


@given(
    amount_minor=st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR),
    currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)),
)
def test_format_amount_round_trips_through_parse_amount(amount_minor: int, currency: str) -> None:
    text = format_amount(amount_minor, currency)
    assert parse_amount(text, currency) == amount_minor
    assert parse_amount(text, currency.lower()) == amount_minor
