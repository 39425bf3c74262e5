"""ICCIDs: the Luhn check digit and the lengths simops accepts.

The emulator generates ICCIDs with these functions and campaign files are checked with them,
so a seeded ICCID and a validated one follow the same rule.
"""

from __future__ import annotations

ICCID_LENGTHS = (19, 20)
"""Digits of a valid ICCID: E.118 allows 19 plus the check digit, and 19-digit ones exist."""

ICCID_LIKE_LENGTHS = range(18, 23)
"""Runs of digits taken for an ICCID at all (as `resolve_sim` and ICCID masking do)."""


DOUBLED = str.maketrans("0123456789", "0246813579")
"""Each digit doubled, with the digits of the result summed (the Luhn step)."""


def luhn_check_digit(digits: str) -> str:
    """The Luhn check digit that makes `digits + check` valid (`digits`: ASCII digits)."""
    # From the right, the digit next to the check digit is doubled, then every other one.
    # Summing the ASCII codes of the bytes is the fast way to sum digits in Python.
    doubled = digits[::-2].translate(DOUBLED)
    kept = digits[-2::-2]
    total = sum(doubled.encode()) + sum(kept.encode()) - 48 * len(digits)
    return str(-total % 10)


def luhn_valid(number: str) -> bool:
    """Whether `number` (ASCII digits only) ends with its Luhn check digit."""
    return (
        len(number) > 1
        and number.isascii()
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == number[-1]
    )
