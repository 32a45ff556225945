"""The events the line builds for its units."""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from edge import codes
from edge.codes import UnitCommissioning, Where
from lineside.contract import ProductInfo, WorkOrder

WHERE = Where(
    read_point=codes.location("8934567000017", "L1"),
    biz_location=codes.location("8934567000017"),
)
ORDER = WorkOrder(
    id="WO-1",
    product=ProductInfo(gtin="08934567890120", name_vi="Miến dong"),
    lot="L2611",
    production_date=date(2026, 11, 1),
    expiry_date=date(2027, 11, 1),
    quantity=10,
    units_per_case=5,
)


@settings(max_examples=100, deadline=None)
@given(
    serial=st.text(alphabet="ABCXYZabc0123456789%&/+", min_size=1, max_size=20),
    when=st.datetimes(min_value=datetime(2020, 1, 1), timezones=st.just(UTC)),
)
def test_a_unit_commissioning_is_the_full_commissioning_event(serial: str, when: datetime) -> None:
    made = UnitCommissioning(ORDER, WHERE).event(serial, when=when)
    assert made == codes.commissioning(ORDER, [serial], when=when, where=WHERE)
