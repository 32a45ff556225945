"""The parts every GS1 linter shares: the failure record and the digit and date checks.

Kept apart from :mod:`lineside.gs1.linters` (the table of linters by name) so that linters
written in their own modules, such as the coupon ones, can use them without a cycle.

>>> date_linter(2, day_zero=False)("260230")
LintFailure(code='ILLEGAL_DAY', start=4, end=6)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DIGITS", "LintFailure", "date_linter", "first_outside", "non_digit", "whole"]

DIGITS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class LintFailure:
    """Why a component failed a linter: a code and the offending span ``[start, end)``.

    The codes are the GS1 syntax-test error names without their ``GS1_LINTER_`` prefix.
    """

    code: str
    start: int
    end: int


def whole(code: str, text: str) -> LintFailure:
    return LintFailure(code, 0, len(text))


def first_outside(text: str, allowed: frozenset[str], code: str) -> LintFailure | None:
    for index, char in enumerate(text):
        if char not in allowed:
            return LintFailure(code, index, index + 1)
    return None


def non_digit(text: str) -> LintFailure | None:
    return first_outside(text, DIGITS, "NON_DIGIT_CHARACTER")


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def date_linter(year_digits: int, day_zero: bool) -> Callable[[str], LintFailure | None]:
    size = year_digits + 4

    def check(text: str) -> LintFailure | None:
        if len(text) < size:
            return whole("DATE_TOO_SHORT", text)
        if len(text) > size:
            return whole("DATE_TOO_LONG", text)
        if not (text.isascii() and text.isdigit()):
            return non_digit(text)
        month = int(text[year_digits : year_digits + 2])
        if not 1 <= month <= 12:
            return LintFailure("ILLEGAL_MONTH", year_digits, year_digits + 2)
        day = int(text[year_digits + 2 :])
        if day == 0 and day_zero:
            return None
        last = _DAYS_IN_MONTH[month - 1]
        if month == 2:
            year = int(text[:year_digits])
            if year_digits == 2:
                # Two-digit years resolve within 50 years of today, where every year
                # divisible by 4 is a leap year (2000 was one, 2100 is out of reach).
                leap = year % 4 == 0
            else:
                leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
            last = 29 if leap else 28
        if not 1 <= day <= last:
            return LintFailure("ILLEGAL_DAY", year_digits + 2, year_digits + 4)
        return None

    return check
