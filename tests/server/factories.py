"""Builders of EPCIS events and master data for server tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from lineside.epcis import event_hash
from server.db.models import CompanyPrefix, Device, Facility, Line, Organisation

BASE_TIME = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
#: The company prefix of the identifiers below (GS1's example prefix).
TEST_PREFIX = "0614141"
#: Serials a test line may draw itself (its declared offline reserve).
TEST_OFFLINE_RESERVE = 1_000_000


def fake_event_id(seed: str) -> str:
    """A well-formed event-hash-shaped ID derived from ``seed`` (not the real hash)."""
    return f"ni:///sha-256;{hashlib.sha256(seed.encode()).hexdigest()}?ver=CBV2.0"


def sgtin(serial: int | str, gtin_ref: str = "0614141.107346") -> str:
    return f"urn:epc:id:sgtin:{gtin_ref}.{serial}"


def sscc(number: int) -> str:
    return f"urn:epc:id:sscc:0614141.{number:010d}"


def object_event(
    epcs: list[str],
    *,
    seed: str | None = None,
    minutes: int = 0,
    biz_step: str = "commissioning",
    action: str = "ADD",
    read_point: str = "urn:epc:id:sgln:0614141.00777.0",
    disposition: str = "active",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": (BASE_TIME + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+07:00",
        "epcList": epcs,
        "action": action,
        "bizStep": biz_step,
        "disposition": disposition,
        "readPoint": {"id": read_point},
        "bizLocation": {"id": "urn:epc:id:sgln:0614141.00777.0"},
    }
    # The real event hash: the server refuses any other ID of that form. ``seed`` only
    # names the event in failure messages of older tests.
    del seed
    event["eventID"] = event_hash(event)
    return event


def aggregation_event(
    parent: str, children: list[str], *, action: str = "ADD", minutes: int = 0
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "AggregationEvent",
        "eventTime": (BASE_TIME + timedelta(minutes=minutes)).isoformat(),
        "eventTimeZoneOffset": "+07:00",
        "parentID": parent,
        "childEPCs": children,
        "action": action,
        "bizStep": "packing",
        "disposition": "in_progress",
        "readPoint": {"id": "urn:epc:id:sgln:0614141.00777.0"},
    }
    event["eventID"] = event_hash(event)
    return event


def epcis_document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-03-01T01:00:00Z",
        "epcisBody": {"eventList": events},
    }


def add_line(
    session: Session,
    line_id: str,
    site: str,
    devices: tuple[str, ...] = ("agent-1",),
    prefix: str = TEST_PREFIX,
) -> Line:
    """Register a line and its devices, in a facility of the organisation holding the
    test company prefix (created on first use); commit.

    The line may draw its own serials (a large offline reserve), so the events of the
    builders above, made on it, are its to report."""
    held = session.get(CompanyPrefix, prefix)
    organisation = (
        session.get(Organisation, held.organisation_id)
        if held is not None
        else Organisation(name=f"HTX {line_id}", tax_id=None, gs1_company_prefix=prefix)
    )
    facility = Facility(organisation=organisation, name=f"Xưởng {line_id}")
    line = Line(
        id=line_id,
        site=site,
        facility=facility,
        site_gln="8930000000019",
        offline_reserve=TEST_OFFLINE_RESERVE,
    )
    session.add_all([organisation, facility, line])
    session.add_all([Device(id=device, line=line) for device in devices])
    session.commit()
    return line
