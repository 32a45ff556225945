"""North American coupon linters (AI 8110 and 8112)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside.errors import GS1Error
from lineside.gs1 import GS1Message
from lineside.gs1.coupon import lint_couponcode, lint_couponposoffer
from lineside.gs1.linters import LintFailure, describe


def numeric(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=size, max_size=size)


@st.composite
def vli_field(draw: st.DrawFn, vlis: str, base: int) -> str:
    """A value length indicator and the ``base + vli`` digits it announces."""
    vli = draw(st.sampled_from(vlis))
    return vli + draw(numeric(base + int(vli)))


@st.composite
def yymmdd(draw: st.DrawFn) -> str:
    year, month, day = draw(st.integers(0, 99)), draw(st.integers(1, 12)), draw(st.integers(1, 28))
    return f"{year:02d}{month:02d}{day:02d}"


@st.composite
def purchase(draw: st.DrawFn) -> str:
    return draw(vli_field("12345", 0)) + draw(st.sampled_from("012349")) + draw(numeric(3))


@st.composite
def purchase_gcp(draw: st.DrawFn) -> str:
    vli = draw(st.sampled_from("01234569"))
    return vli + ("" if vli == "9" else draw(numeric(6 + int(vli))))


@st.composite
def coupon_codes(draw: st.DrawFn) -> str:
    """A valid AI (8110) value: mandatory fields, then any optional fields in order."""
    parts = [
        draw(vli_field("0123456", 6)),
        draw(numeric(6)),
        draw(vli_field("12345", 0)),
        draw(purchase()),
    ]
    if draw(st.booleans()):
        parts += ["1", draw(st.sampled_from("0123")), draw(purchase()), draw(purchase_gcp())]
    if draw(st.booleans()):
        parts += ["2", draw(purchase()), draw(purchase_gcp())]
    dates = sorted(draw(st.lists(yymmdd(), min_size=2, max_size=2)))
    if draw(st.booleans()):
        parts += ["3", dates[1]]
    if draw(st.booleans()):
        parts += ["4", dates[0]]
    if draw(st.booleans()):
        parts += ["5", draw(vli_field("0123456789", 6))]
    if draw(st.booleans()):
        parts += ["6", draw(vli_field("1234567", 6))]
    if draw(st.booleans()):
        parts += [
            "9",
            draw(st.sampled_from("01256")),
            draw(st.sampled_from("012")),
            draw(numeric(1)),
            draw(st.sampled_from("01")),
        ]
    return "".join(parts)


@st.composite
def coupon_offers(draw: st.DrawFn) -> str:
    """A valid AI (8112) value."""
    return (
        draw(st.sampled_from("01"))
        + draw(vli_field("0123456", 6))
        + draw(numeric(6))
        + draw(vli_field("0123456789", 6))
    )


@given(coupon_codes())
def test_built_coupon_codes_pass(value: str) -> None:
    assert lint_couponcode(value) is None


@given(coupon_offers())
def test_built_coupon_offers_pass(value: str) -> None:
    assert lint_couponposoffer(value) is None


@given(coupon_codes(), st.text(alphabet="0123456789", min_size=1, max_size=3))
def test_trailing_digits_are_reported_with_a_span_inside_the_value(value: str, extra: str) -> None:
    failure = lint_couponcode(value + extra)
    # The extra digits may start a valid optional field; if not, the failure is bounded.
    if failure is not None:
        assert 0 <= failure.start <= failure.end <= len(value + extra)
        assert failure.code.startswith("COUPON_")


@given(st.text(alphabet="0123456789ab", max_size=80))
def test_random_text_never_raises(text: str) -> None:
    for check in (lint_couponcode, lint_couponposoffer):
        failure = check(text)
        assert failure is None or 0 <= failure.start <= failure.end <= len(text)


@pytest.mark.parametrize(
    ("value", "failure"),
    [
        ("", LintFailure("COUPON_MISSING_GCP_VLI", 0, 0)),
        ("7123456789012", LintFailure("COUPON_INVALID_GCP_LENGTH", 0, 1)),
        ("0123", LintFailure("COUPON_TRUNCATED_GCP", 1, 4)),
        ("0123456", LintFailure("COUPON_TRUNCATED_OFFER_CODE", 0, 7)),
        ("01234561234566", LintFailure("COUPON_INVALID_SAVE_VALUE_LENGTH", 13, 14)),
        ("012345612345611115", LintFailure("COUPON_INVALID_1ST_PURCHASE_REQUIREMENT_CODE", 17, 18)),
        ("0123456123456111101237", LintFailure("COUPON_EXCESS_DATA", 21, 22)),
        # Expiry (3) before start (4): the span covers both date fields.
        (
            "012345612345611110123" + "3260101" + "4260102",
            LintFailure("COUPON_EXPIRATION_BEFORE_START", 21, 35),
        ),
        (
            "012345612345611110123" + "3260230",
            LintFailure("COUPON_INVALID_EXIPIRATION_DATE", 22, 28),
        ),
        # Optional fields must come in ascending order of their indicator.
        (
            "012345612345611110123" + "9" + "1000" + "3260101",
            LintFailure("COUPON_EXCESS_DATA", 26, 33),
        ),
        ("01234X", LintFailure("NON_DIGIT_CHARACTER", 5, 6)),
    ],
)
def test_couponcode_failures(value: str, failure: LintFailure) -> None:
    assert lint_couponcode(value) == failure


@pytest.mark.parametrize(
    ("value", "failure"),
    [
        ("", LintFailure("COUPON_MISSING_FORMAT_CODE", 0, 0)),
        ("2", LintFailure("COUPON_INVALID_FORMAT_CODE", 0, 1)),
        ("07", LintFailure("COUPON_INVALID_FUNDER_LENGTH", 1, 2)),
        ("001234561234561123", LintFailure("COUPON_TRUNCATED_SERIAL_NUMBER", 15, 18)),
        ("0012345612345601234567", LintFailure("COUPON_EXCESS_DATA", 21, 22)),
    ],
)
def test_couponposoffer_failures(value: str, failure: LintFailure) -> None:
    assert lint_couponposoffer(value) == failure


def test_coupon_failures_are_worded_in_element_validation() -> None:
    with pytest.raises(GS1Error) as info:
        GS1Message.parse("(8112)00123456").validate()
    assert str(info.value) == (
        "AI (8112): 00123456 is not valid (coupon offer code too short at position 1)"
    )
    assert describe("COUPON_MISSING_GCP_VLI") == "coupon gcp length indicator missing"


def test_valid_coupon_in_a_message() -> None:
    GS1Message.parse("(8110)106141416543213500110000310123196000").validate()
