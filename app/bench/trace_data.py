"""Realistic trace data for the trace bench, written straight into the store.

Lines commission units, pack them into cases and cases onto pallets, then ship the
pallets: per pallet, :data:`UNITS_PER_CASE` × :data:`CASES_PER_PALLET` commissioning
events, a packing aggregation per case, one per pallet and a shipping event. Each line
works in its own time span, spread over two years, so a store partitioned by time holds
every line in several partitions.

The rows of ``events``, ``event_epcs`` and ``containment`` are generated directly (the
event IDs are event-hash shaped, spread uniformly like real ones, but not the hashes of
the documents) and go into PostgreSQL with ``COPY``, or into SQLite with multi-row
inserts. :func:`unit_epc` names any loaded unit, so queries need no list of them.

>>> rows = list(generate(UNITS_PER_PALLET + 1, lines=1))
>>> sum(1 for table, _ in rows if table == "events") == EVENTS_PER_PALLET
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

UNITS_PER_CASE = 12
CASES_PER_PALLET = 40
UNITS_PER_PALLET = UNITS_PER_CASE * CASES_PER_PALLET
#: Events generated per pallet shipped.
EVENTS_PER_PALLET = UNITS_PER_PALLET + CASES_PER_PALLET + 2
_T0 = datetime(2025, 1, 1, tzinfo=UTC)
#: Two years of production, shared out between the lines.
_SPAN = timedelta(days=730)
#: The calendar years the events fall in (a partitioned store has a partition for each).
YEARS = (2025, 2026)
_PREFIX = "8934567"
_GTIN = "08934567890128"

EVENT_COLUMNS = (
    "event_id",
    "type",
    "action",
    "biz_step",
    "disposition",
    "event_time",
    "event_time_zone_offset",
    "record_time",
    "read_point",
    "biz_location",
    "line_id",
    "device_id",
    "seq",
    "source",
    "organisation_id",
    "document",
)
EPC_COLUMNS = ("event_id", "epc", "role")
CONTAINMENT_COLUMNS = ("child_epc", "parent_epc", "event_id", "event_time")

Row = tuple[Any, ...]


def unit_epc(line: int, n: int) -> str:
    """The Digital Link URI of unit ``n`` of line ``line``."""
    return f"https://id.gs1.org/01/{_GTIN}/21/L{line:03d}U{n}"


def _sscc(line: int, kind: int, n: int) -> str:
    return f"https://id.gs1.org/00/{kind}{_PREFIX}{line:03d}{n:06d}"


def _event_id(key: str) -> str:
    return f"ni:///sha-256;{hashlib.sha256(key.encode()).hexdigest()}?ver=CBV2.0"


def units_per_line(events: int, lines: int) -> int:
    """How many units each line commissions in a load of about ``events`` events."""
    pallets = max(1, -(-events // (EVENTS_PER_PALLET * lines)))
    return pallets * UNITS_PER_PALLET


class _Line:
    """One line's events: its ID, read point, sequence numbers, and the shared clock."""

    def __init__(self, line: int, clock: datetime, step: timedelta) -> None:
        self.line_id = f"L{line:03d}"
        self.read_point = f"https://id.gs1.org/414/{_PREFIX}{line:05d}"
        self.clock = clock
        self.step = step
        self.seq = 0

    def event(self, kind: str, key: str, body: dict[str, Any]) -> tuple[str, Row]:
        self.clock += self.step
        self.seq += 1
        event_id = _event_id(f"{self.line_id}:{key}")
        document = {
            "type": kind,
            "eventTime": self.clock.isoformat().replace("+00:00", "Z"),
            "eventTimeZoneOffset": "+07:00",
            "eventID": event_id,
            "readPoint": {"id": self.read_point},
            **body,
        }
        row = (
            event_id,
            kind,
            body.get("action"),
            body["bizStep"],
            body.get("disposition"),
            self.clock,
            "+07:00",
            self.clock + timedelta(seconds=2),
            self.read_point,
            None,
            self.line_id,
            "agent-1",
            self.seq,
            "mqtt",
            1,
            json.dumps(document),
        )
        return "events", row


def _packed(
    event: Callable[[str, str, dict[str, Any]], tuple[str, Row]], parent: str, children: list[str]
) -> Iterator[tuple[str, Row]]:
    """The packing event of ``children`` into ``parent``, its identifiers and containment."""
    table, row = event(
        "AggregationEvent",
        parent,
        {
            "action": "ADD",
            "parentID": parent,
            "childEPCs": children,
            "bizStep": "packing",
            "disposition": "in_progress",
        },
    )
    yield table, row
    yield "event_epcs", (row[0], parent, "parent")
    for epc in children:
        yield "event_epcs", (row[0], epc, "child")
        yield "containment", (epc, parent, row[0], row[5])


def generate(events: int, lines: int = 20) -> Iterator[tuple[str, Row]]:
    """``(table, row)`` pairs for about ``events`` events (whole pallets) on ``lines`` lines."""
    per_line = units_per_line(events, lines)
    pallets = per_line // UNITS_PER_PALLET
    step = _SPAN / (lines * pallets * EVENTS_PER_PALLET)
    clock = _T0
    for line in range(lines):
        state = _Line(line, clock, step)
        event = state.event

        for pallet in range(pallets):
            pallet_epc = _sscc(line, 1, pallet)
            cases: list[str] = []
            for case in range(CASES_PER_PALLET):
                case_no = pallet * CASES_PER_PALLET + case
                case_epc = _sscc(line, 0, case_no)
                units: list[str] = []
                for unit in range(UNITS_PER_CASE):
                    epc = unit_epc(line, case_no * UNITS_PER_CASE + unit)
                    units.append(epc)
                    table, row = event(
                        "ObjectEvent",
                        epc,
                        {
                            "action": "ADD",
                            "epcList": [epc],
                            "bizStep": "commissioning",
                            "disposition": "active",
                            "ilmd": {"cbvmda:lotNumber": f"LOT{case_no // 100}"},
                        },
                    )
                    yield table, row
                    yield "event_epcs", (row[0], epc, "epc")
                yield from _packed(event, case_epc, units)
                cases.append(case_epc)
            yield from _packed(event, pallet_epc, cases)
            table, row = event(
                "ObjectEvent",
                f"ship:{pallet_epc}",
                {
                    "action": "OBSERVE",
                    "epcList": [pallet_epc],
                    "bizStep": "shipping",
                    "disposition": "in_transit",
                },
            )
            yield table, row
            yield "event_epcs", (row[0], pallet_epc, "epc")
        clock = state.clock
