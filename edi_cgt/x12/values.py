# X12 numeric values (type R): one rule for every number edi-cgt reads.
#
# Strategy: a number is what decimal.Decimal reads and is finite; an empty element is zero.
# NaN, Infinity and anything Decimal refuses are not numbers, wherever they stand: in a claim
# that is read (the reader refuses it) or in the charges counted for a claim that is not read
# (the claim is then read, and refused). No float ever holds money.
from __future__ import annotations

from decimal import Decimal, InvalidOperation

__all__ = ["decimal_value", "sum_amounts"]

_ZERO = Decimal(0)


def decimal_value(text: str) -> Decimal:
    """The number in an element; raises ValueError when it is not one."""
    if not text:
        return _ZERO
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite():
        raise ValueError(text)
    return value


def sum_amounts(values: list[bytes]) -> Decimal | None:
    """The sum of elements read with decimal_value's rule, or None when one is not a number.

    Decoded and converted in one go (joined on a byte no amount holds, then split), so a
    transaction's CLM02s cost about one C call each."""
    text = b"\x1f".join(values).decode("latin-1")
    parts = text.split("\x1f")
    if len(parts) != len(values):  # an amount held the joining byte: not a number anyway
        return None
    try:
        total = sum(map(Decimal, filter(None, parts)), _ZERO)
    except InvalidOperation:
        return None
    return total if total.is_finite() else None
