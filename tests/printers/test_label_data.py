"""LabelData builds its codes with lineside.gs1: Digital Link, element string and HRI agree."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edge.printers.label_data import LabelData
from lineside.gs1 import GS1Message, parse_digital_link

_cset82 = st.text(
    alphabet=st.sampled_from(
        "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    ),
    min_size=1,
    max_size=20,
)
_dates = st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2049, 12, 31))


@settings(max_examples=100, deadline=None)
@given(
    lot=st.none() | _cset82,
    serial=st.none() | _cset82,
    expiry=_dates,
    made=_dates,
    best_before=_dates,
)
def test_digital_link_carries_the_element_string(
    lot: str | None,
    serial: str | None,
    expiry: date | None,
    made: date | None,
    best_before: date | None,
) -> None:
    unit = LabelData(
        product_name="x",
        gtin="8934567890120",
        lot=lot,
        serial=serial,
        expiry=expiry,
        production_date=made,
        best_before=best_before,
        resolver="https://trace.example.vn/p/",
    )
    link = unit.digital_link()
    assert link.startswith("https://trace.example.vn/p/01/08934567890120")
    fields = unit.fields()
    assert fields["digital_link"] == link
    from_link = parse_digital_link(link)
    from_element_string = GS1Message.parse(fields["element_string"], separators_trusted=True)
    assert sorted(from_link.elements, key=lambda e: e.ai) == sorted(
        from_element_string.elements, key=lambda e: e.ai
    )
    assert fields["hri"] == from_element_string.as_bracketed()


def test_dates_go_in_the_query_string() -> None:
    unit = LabelData(
        product_name="x",
        gtin="08934567890120",
        lot="A/1",
        serial="S1",
        production_date=date(2026, 11, 2),
        expiry=date(2027, 6, 30),
    )
    assert unit.digital_link() == (
        "https://id.gs1.org/01/08934567890120/10/A%2F1/21/S1?11=261102&17=270630"
    )


def test_invalid_lot_is_refused_with_the_ai() -> None:
    with pytest.raises(ValidationError, match=r"\(10\)"):
        LabelData(product_name="x", gtin="8934567890120", lot="lô 1")


@pytest.mark.parametrize(
    "names",
    [
        {"lot", "hri"},
        {"product_name", "digital_link", "element_string", "hri"},
        {"expiry", "hri_text", "hri_lines", "extra.grade", "serial"},
        {"best_before", "origin", "extra.none"},
        set(),
    ],
)
def test_named_fields_are_those_of_every_field(names: set[str]) -> None:
    """A template asks only for its fields; each has the value the full set gives it."""
    unit = LabelData(
        product_name="Trà",
        gtin="08934567890120",
        lot="L1",
        serial="S/1",
        expiry=date(2027, 6, 30),
        best_before=date(2027, 5, 31),
        extra={"grade": "A", "line": "L2"},
    )
    everything = unit.fields()
    assert unit.fields(names) == {k: v for k, v in everything.items() if k in names}
    assert unit.fields(names, message=unit.gs1_message()) == unit.fields(names)


def _made_or_refused(make: Callable[[], LabelData]) -> LabelData | list[str]:
    try:
        return make()
    except ValidationError as refused:
        return [error["msg"] for error in refused.errors()]


@settings(max_examples=150, deadline=None)
@given(
    lot=st.none() | _cset82,
    serial=st.one_of(_cset82, st.text(max_size=25), st.sampled_from(["", "a" * 20, "a" * 21])),
    expiry=_dates,
)
def test_with_serial_is_the_constructor(lot: str | None, serial: str, expiry: date | None) -> None:
    # The line builds a work order's data once and gives each unit its serial; the result,
    # or the refusal, must be the constructor's.
    fields: dict[str, Any] = {"product_name": "Trà", "gtin": "08934567890120", "lot": lot}
    order = LabelData(**fields, expiry=expiry)
    expected = _made_or_refused(lambda: LabelData(**fields, expiry=expiry, serial=serial))
    made = _made_or_refused(lambda: order.with_serial(serial))
    assert made == expected
    if isinstance(made, LabelData) and isinstance(expected, LabelData):
        assert made.fields() == expected.fields()
