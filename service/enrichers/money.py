"""Money arithmetic of the ``cost`` enricher: Decimal cents, integer cents and their formatting."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")

#: Bounds of the integer fast path; a plan or usage outside them takes the exact Decimal path.
#: Below 2**53, ceil(Decimal(str(x))) == math.ceil(x) for an int or float x (every integer there is
#: a float, so the shortest repr of a non-integer float never crosses one); with at most 15 digits
#: per price and fewer than 10**9 overage units every Decimal product and sum is exact.
_FAST_USAGE = 2**53
_MAX_EXTRA = 10**9
_MAX_AMOUNT = Decimal(10**15)
_MAX_DIGITS = 15


def _number(value: Any) -> Decimal | None:
    """A plan attribute or answer as a Decimal, or None when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return Decimal(str(value))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _money(value: Decimal) -> str:
    """A price for the explanation: two decimals, more only when the tariff has them (0.085)."""
    return str(_cents(value)) if value == _cents(value) else f"{value.normalize():f}"


def _quantity(value: Decimal) -> str:
    """A usage quantity for the explanation: ``2``, ``2.5``."""
    text = f"{_cents(value):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ceil_usage(value: int | float | None) -> int | None:
    """``ceil(value)`` when the fast path computes it exactly, else None."""
    if (type(value) is int or type(value) is float) and 0 <= value < _FAST_USAGE:
        return math.ceil(value)
    return None


def _fixed(value: Decimal) -> tuple[int, int] | None:
    """``(m, e)`` with value == m / 10**(e + 2) for a positive value, or None outside the fast path."""
    sign, digits, exponent = value.as_tuple()
    if sign or len(digits) > _MAX_DIGITS or not isinstance(exponent, int):
        return None
    mantissa = int("".join(map(str, digits)))
    if exponent >= 0:
        mantissa *= 10**exponent
        return (mantissa, -2) if mantissa < 10**_MAX_DIGITS else None
    return mantissa, -exponent - 2


def _cents_int(value: Decimal) -> int:
    return int(_cents(value).scaleb(2))


def _cents_text(cents: int) -> str:
    """``str(Decimal)`` of a non-negative amount with two decimals, from integer cents."""
    whole, part = divmod(cents, 100)
    return f"{whole}.{part:02d}"
