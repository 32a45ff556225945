"""Fuzz the coupon linters of AIs (8110) and (8112): they report, they never raise.

A failure's span lies inside the value; a value that lints clean also validates as the
element string of its AI.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from lineside.gs1 import ElementString
from lineside.gs1.coupon import lint_couponcode, lint_couponposoffer
from lineside.gs1.linters import LintFailure
from tests.fuzz.support import InputCounter, fuzz_settings, hostile_text, mutated_text

COUPON_SEEDS = [
    "012345612345611110123",
    "0123456123456111101233200230",
    "001234561234560123456",
    "0123456123456111101231" + "0" + "3261231" + "4260101" + "5" + "0" + "123456",
]
LINTERS: list[tuple[str, str, Callable[[str], LintFailure | None]]] = [
    ("8110", "lint_couponcode", lint_couponcode),
    ("8112", "lint_couponposoffer", lint_couponposoffer),
]


@fuzz_settings()
@given(
    text=st.one_of(
        st.text(alphabet="0123456789", max_size=80),
        mutated_text(COUPON_SEEDS, alphabet="0123456789"),
        hostile_text(max_size=40),
    )
)
def test_coupon_linters(text: str, inputs: InputCounter) -> None:
    for ai, name, linter in LINTERS:
        inputs.tried(f"gs1.{name}")
        failure = linter(text)
        if failure is None:
            if text.isascii() and 0 < len(text) <= 70:
                ElementString(ai, text).validate()
            continue
        assert failure.code
        assert 0 <= failure.start <= failure.end <= max(len(text), 1)
