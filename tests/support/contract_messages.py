"""One example of every MQTT contract message, with the topic it travels on.

The contract tests round-trip them; the contract fuzzer mutates them as seeds::

    for topic, message in MESSAGES:
        assert decode(encode(message), topic) == message
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from lineside import contract
from lineside.contract import (
    Alarm,
    AlarmCode,
    CommandAck,
    DeviceRole,
    DeviceState,
    DeviceStatus,
    EventMessage,
    LineState,
    LineStatus,
    LotCounts,
    ProductInfo,
    ReconciliationReport,
    SerialBlockCommand,
    Severity,
    Topics,
    WorkOrder,
    WorkOrderAction,
    WorkOrderCommand,
)

AT = datetime(2026, 11, 28, 8, 30, tzinfo=UTC)
EVENT_ID = "ni:///sha-256;" + "a" * 64 + "?ver=CBV2.0"
TOPICS = Topics("s1", "L1")


def event_body(**overrides: Any) -> dict[str, Any]:
    """A commissioning ObjectEvent as JSON-LD, with ``overrides`` applied."""
    event = {
        "type": "ObjectEvent",
        "eventID": EVENT_ID,
        "eventTime": "2026-11-28T08:30:00.000Z",
        "eventTimeZoneOffset": "+07:00",
        "action": "ADD",
        "bizStep": "commissioning",
        "epcList": ["https://id.gs1.org/01/08934567890120/21/Ab3xKm9pQr7t"],
    }
    event.update(overrides)
    return event


def work_order() -> WorkOrder:
    """A work order for 2,000 units in cases of 24."""
    return WorkOrder(
        id="WO-2026-0042",
        product=ProductInfo(gtin="08934567890120", name_vi="Miến dong Côn Minh"),
        lot="L2611A",
        production_date=date(2026, 11, 28),
        expiry_date=date(2027, 11, 28),
        quantity=2000,
        units_per_case=24,
    )


#: Every message kind once, in the order of the contract document; the ack comes last.
MESSAGES: list[tuple[str, contract._Message]] = [
    (
        TOPICS.events,
        EventMessage(
            site="s1", line="L1", device="verify-1", seq=7, sent_at=AT, event=event_body()
        ),
    ),
    (
        TOPICS.status,
        LineStatus(site="s1", line="L1", state=LineState.RUNNING, work_order="WO-1", updated_at=AT),
    ),
    (
        TOPICS.device_status("printer-1"),
        DeviceStatus(
            device="printer-1",
            role=DeviceRole.UNIT_PRINTER,
            state=DeviceState.ERROR,
            flags=("paper_out",),
            updated_at=AT,
        ),
    ),
    (
        TOPICS.alarms,
        Alarm(
            site="s1",
            line="L1",
            code=AlarmCode.PAPER_OUT,
            severity=Severity.CRITICAL,
            message="Hết giấy",
            raised_at=AT,
        ),
    ),
    (
        TOPICS.reports,
        ReconciliationReport(
            site="s1",
            line="L1",
            work_order="WO-1",
            lots=(
                LotCounts(
                    lot="L1", allocated=10, commissioned=8, rejected=2, sampled=0, returned=0
                ),
            ),
            cases=1,
            closed_at=AT,
        ),
    ),
    (
        TOPICS.commands,
        WorkOrderCommand(
            command_id="c-1",
            action=WorkOrderAction.LOAD,
            work_order_id="WO-2026-0042",
            order=work_order(),
            issued_at=AT,
        ),
    ),
    (
        TOPICS.commands,
        SerialBlockCommand(
            command_id="c-2", block_id="b1", gtin="08934567890120", serials=("A1", "B2")
        ),
    ),
    (
        TOPICS.acks,
        CommandAck(command_id="c-1", ok=False, error="another order is running", acked_at=AT),
    ),
]
