"""EPCIS documents built with the library's own builders, for validation tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from lineside.epcis import (
    EPCISDocument,
    commissioning_event,
    decommissioning_event,
    packing_event,
)


def builders_document() -> EPCISDocument:
    """One unit commissioned, decommissioned and packed, as the line builds them.

    >>> len(builders_document().events)
    3
    """
    at = datetime(2024, 5, 1, 8, 30, tzinfo=timezone(timedelta(hours=7)))
    unit = "https://id.gs1.org/01/08934567890120/21/Ab3x"
    line = "https://id.gs1.org/414/8934567000017/254/L1"
    site = "https://id.gs1.org/414/8934567000017"
    events = [
        commissioning_event(
            epcs=[unit],
            event_time=at,
            read_point=line,
            biz_location=site,
            lot="L1",
            expiry=date(2026, 1, 1),
        ),
        decommissioning_event(
            epcs=[unit], event_time=at, read_point=line, biz_location=site, reason="duplicate"
        ),
        packing_event(
            parent="https://id.gs1.org/00/389345670000000018",
            children=[unit],
            event_time=at,
            read_point=line,
            biz_location=site,
        ),
    ]
    return EPCISDocument.of(events, creation_date=at)
