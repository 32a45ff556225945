"""The commissioning template gives what the full builder gives."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineside.epcis import event_hash
from lineside.epcis.builders import CommissioningTemplate, commissioning_event
from lineside.errors import EPCISError
from lineside.gs1.digital_link import percent_encode

READ_POINT = "https://id.gs1.org/414/8934567000017/254/L1"
BIZ_LOCATION = "https://id.gs1.org/414/8934567000017"
# GS1 AI 21 serials: up to 20 characters of the 82-character set.
SERIAL_CHARS = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

serials = st.text(alphabet=SERIAL_CHARS, min_size=1, max_size=20)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
dates = st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
lots = st.none() | st.text(alphabet=SERIAL_CHARS, min_size=1, max_size=20)


def _epc(serial: str) -> str:
    return f"https://id.gs1.org/01/08934567890120/21/{percent_encode(serial)}"


@settings(max_examples=300, deadline=None)
@given(serial=serials, when=times, lot=lots, expiry=dates, produced=dates, best_before=dates)
def test_the_template_event_is_the_built_event(
    serial: str,
    when: datetime,
    lot: str | None,
    expiry: date | None,
    produced: date | None,
    best_before: date | None,
) -> None:
    fields: dict[str, Any] = {
        "read_point": READ_POINT,
        "biz_location": BIZ_LOCATION,
        "lot": lot,
        "expiry": expiry,
        "production_date": produced,
        "best_before": best_before,
    }
    template = CommissioningTemplate(**fields)
    built = commissioning_event(epcs=[_epc(serial)], event_time=when, **fields).to_jsonld()
    made = template.event(_epc(serial), when)
    assert made == built
    assert made["eventID"] == event_hash(made)


def test_each_event_is_its_own_copy() -> None:
    template = CommissioningTemplate(read_point=READ_POINT, biz_location=BIZ_LOCATION, lot="L1")
    first = template.event(_epc("A1"), datetime(2026, 1, 1, tzinfo=UTC))
    first["ilmd"]["cbvmda:lotNumber"] = "changed"
    second = template.event(_epc("A2"), datetime(2026, 1, 1, tzinfo=UTC))
    assert second["ilmd"] == {"cbvmda:lotNumber": "L1"}
    assert second["eventID"] != first["eventID"]


def test_another_offset_is_built_the_long_way() -> None:
    template = CommissioningTemplate(read_point=READ_POINT, biz_location=BIZ_LOCATION)
    when = datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=7)))
    made = template.event(_epc("A1"), when)
    assert made["eventTimeZoneOffset"] == "+07:00"
    assert (
        made
        == commissioning_event(
            epcs=[_epc("A1")], event_time=when, read_point=READ_POINT, biz_location=BIZ_LOCATION
        ).to_jsonld()
    )


def test_an_epc_that_is_not_a_uri_is_refused() -> None:
    template = CommissioningTemplate(read_point=READ_POINT, biz_location=BIZ_LOCATION)
    with pytest.raises(EPCISError, match="not an absolute URI"):
        template.event("not a uri", datetime(2026, 1, 1, tzinfo=UTC))
