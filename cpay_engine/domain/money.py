"""Money as integer minor units plus a currency code; Decimal only at the edges.

Exponents come from ISO 4217 (checked in below, not CLDR). `DBL` (Dabloons) is the
internal currency with 2 decimals. Input with more decimals than the currency
allows is rejected, never rounded. Floats never appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from cpay_engine.errors import InvalidInput, quoted

DABLOON = "DBL"

# ISO 4217 minor units (List One, active codes). Codes not listed here are rejected.
_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP "
    "GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT "
    "LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN "
    "NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VES "
    "WST XCD YER ZAR ZMW ZWG"
)

CURRENCY_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ZERO.split(), 0),
    **dict.fromkeys(_TWO.split(), 2),
    **dict.fromkeys(_THREE.split(), 3),
    **dict.fromkeys(_FOUR.split(), 4),
    DABLOON: 2,
}

# The largest amount accepted in one payment, in minor units (int64 leaves headroom
# for balances). 10^15 minor units is 10 trillion USD or 1 quadrillion JPY.
MAX_AMOUNT_MINOR = 10**15

# The largest balance, either way (the treasury goes negative), in minor units. Stores
# keep balances in 64-bit integers (max ~9.2 * 10^18), and SQLite would turn an overflowing
# sum into a float: a move that would pass this bound is refused before it is made.
MAX_BALANCE_MINOR = 10**18

# Longer text cannot be a valid amount; checked before int() sees it.
_MAX_AMOUNT_CHARS = 40
_AMOUNT_RE = re.compile(r"\A(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?\Z", re.ASCII)
_CURRENCY_RE = re.compile(r"\A[A-Za-z]{3}\Z", re.ASCII)


def parse_currency(text: str) -> str:
    """Return the upper-case ISO code (or DBL); reject anything else."""
    if not _CURRENCY_RE.match(text or ""):
        raise InvalidInput(
            f"{quoted(text)} is not a currency code: use three letters such as DBL, USD, EUR or JPY"
        )
    code = text.upper()
    if code not in CURRENCY_EXPONENTS:
        raise InvalidInput(f"unknown currency '{code}': use an ISO 4217 code or DBL")
    return code


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[parse_currency(currency)]


def parse_amount(text: str, currency: str) -> int:
    """Parse a positive decimal string into minor units of `currency`.

    Rejected: signs, zero, exponents, NaN/Infinity, thousands separators, spaces,
    non-ASCII digits, more decimals than the currency has, amounts over the maximum.
    """
    code = parse_currency(currency)
    exp = CURRENCY_EXPONENTS[code]
    if len(text) > _MAX_AMOUNT_CHARS:
        raise InvalidInput(
            f"the amount has {len(text)} characters; the maximum is "
            f"{format_amount(MAX_AMOUNT_MINOR, code)} {code}"
        )
    m = _AMOUNT_RE.match(text)
    if m is None:
        raise InvalidInput(
            f"{quoted(text)} is not an amount: write digits with an optional decimal point, "
            f"such as 12.50 (no signs, spaces, separators or exponents)"
        )
    frac = m.group("frac") or ""
    if len(frac) > exp:
        allowed = "no decimals" if exp == 0 else f"at most {exp} decimal{'s' if exp > 1 else ''}"
        raise InvalidInput(f"{code} amounts take {allowed}; {quoted(text)} has {len(frac)}")
    minor: int = int(m.group("int")) * 10**exp + (int(frac.ljust(exp, "0")) if exp else 0)
    if minor == 0:
        raise InvalidInput("the amount must be greater than zero")
    if minor > MAX_AMOUNT_MINOR:
        raise InvalidInput(
            f"{text} {code} is over the maximum of {format_amount(MAX_AMOUNT_MINOR, code)} {code}"
        )
    return minor


def check_amount_minor(amount_minor: int) -> int:
    """Validate an amount that arrived already in minor units (over the wire)."""
    if amount_minor <= 0:
        raise InvalidInput("the amount must be greater than zero")
    if amount_minor > MAX_AMOUNT_MINOR:
        raise InvalidInput(f"the amount is over the maximum of {MAX_AMOUNT_MINOR} minor units")
    return amount_minor


def format_amount(amount_minor: int, currency: str) -> str:
    """Minor units to a plain decimal string ('1234.50'); exact, sign kept."""
    exp = CURRENCY_EXPONENTS[currency]
    value = Decimal(amount_minor).scaleb(-exp)
    return f"{value:.{exp}f}"


@dataclass(frozen=True, slots=True)
class Money:
    amount_minor: int
    currency: str

    def __str__(self) -> str:
        return f"{format_amount(self.amount_minor, self.currency)} {self.currency}"
