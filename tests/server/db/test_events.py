"""Storing events: idempotent on event ID, indexed for traces, containment kept current."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lineside.errors import EPCISError
from server.db.events import (
    EventOrigin,
    children_of,
    containers_of,
    events_for_epc,
    index_event,
    parent_of,
    store_events,
    trace_events,
)
from server.db.models import Containment, EpcRole, Event, EventEpc
from tests.server.factories import aggregation_event, object_event, sgtin, sscc

ORIGIN = EventOrigin(line_id="L1", device_id="agent-1", seq=1)


def _store(session: Session, *events: dict[str, Any]) -> set[str]:
    inserted = store_events(session, [(index_event(e), ORIGIN) for e in events])
    session.commit()
    return inserted


def test_events_are_stored_once_whatever_the_redelivery(session: Session) -> None:
    first = object_event([sgtin(1), sgtin(2)])
    second = object_event([sgtin(3)])
    assert _store(session, first) == {first["eventID"]}
    assert _store(session, first, second, second) == {second["eventID"]}
    assert session.scalar(select(func.count()).select_from(Event)) == 2
    assert session.scalar(select(func.count()).select_from(EventEpc)) == 3


def test_stored_event_keeps_document_and_columns(session: Session) -> None:
    event = object_event([sgtin(7)], biz_step="urn:epcglobal:cbv:bizstep:commissioning")
    _store(session, event)
    stored = session.scalars(select(Event)).one()
    assert stored.document == event
    assert stored.biz_step == "commissioning"
    assert stored.event_time == datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
    assert stored.event_time_zone_offset == "+07:00"
    assert (stored.line_id, stored.device_id, stored.seq) == ("L1", "agent-1", 1)
    assert stored.record_time.tzinfo is not None


def test_trace_by_epc_finds_every_role(session: Session) -> None:
    unit = sgtin(42)
    commissioned = object_event([unit], minutes=0)
    packed = aggregation_event(sscc(1), [unit], minutes=5)
    _store(session, packed, commissioned)
    found = events_for_epc(session, unit)
    assert [e.event_id for e in found] == [commissioned["eventID"], packed["eventID"]]
    roles = set(session.scalars(select(EventEpc.role).where(EventEpc.epc == unit)))
    assert roles == {EpcRole.EPC, EpcRole.CHILD}


def test_containment_follows_add_and_delete(session: Session) -> None:
    units = [sgtin(n) for n in range(3)]
    _store(session, aggregation_event(sscc(1), units, minutes=1))
    _store(session, aggregation_event(sscc(9), [sscc(1)], minutes=2))
    assert children_of(session, sscc(1)) == sorted(units)
    assert containers_of(session, units[0]) == [sscc(1), sscc(9)]
    _store(session, aggregation_event(sscc(1), [units[0]], action="DELETE", minutes=3))
    assert parent_of(session, units[0]) is None
    assert parent_of(session, units[1]) == sscc(1)


def test_trace_follows_the_containers_in_one_query(session: Session) -> None:
    unit = sgtin(30)
    commissioned = object_event([unit], minutes=0)
    packed = aggregation_event(sscc(1), [unit], minutes=5)
    palletised = aggregation_event(sscc(2), [sscc(1)], minutes=6)
    shipped = object_event([sscc(2)], biz_step="shipping", action="OBSERVE", minutes=9)
    other = object_event([sgtin(31)], minutes=1)
    _store(session, shipped, other, palletised, packed, commissioned)
    chain = (commissioned, packed, palletised, shipped)
    assert [e.event_id for e in trace_events(session, unit)] == [e["eventID"] for e in chain]
    assert [e.event_id for e in trace_events(session, sscc(1))] == [e["eventID"] for e in chain[1:]]
    assert [e.event_id for e in trace_events(session, unit, depth=1)] == [
        e["eventID"] for e in chain[:3]
    ]
    assert trace_events(session, sgtin(404)) == []


def test_trace_stops_at_a_containment_cycle(session: Session) -> None:
    one = aggregation_event(sscc(1), [sscc(2)], minutes=1)
    two = aggregation_event(sscc(2), [sscc(1)], minutes=2)
    _store(session, one, two)
    assert [e.event_id for e in trace_events(session, sscc(1))] == [
        one["eventID"],
        two["eventID"],
    ]


def test_containers_of_several_forms_of_a_code_and_of_a_cycle(session: Session) -> None:
    _store(session, aggregation_event(sscc(1), [sgtin(40)], minutes=1))
    _store(session, aggregation_event(sscc(2), [sscc(1)], minutes=2))
    # The first form of the code that is packed gives the chain; the others are not.
    assert containers_of(session, [sgtin(404), sgtin(40)]) == [sscc(1), sscc(2)]
    assert containers_of(session, [sgtin(404)]) == []
    assert containers_of(session, []) == []
    assert containers_of(session, sgtin(40), limit=1) == [sscc(1)]
    _store(session, aggregation_event(sscc(1), [sscc(2)], minutes=3))  # bad data: a cycle
    assert containers_of(session, sscc(1)) == [sscc(2)]
    assert containers_of(session, sgtin(40)) == [sscc(1), sscc(2)]


def test_late_older_aggregation_does_not_move_a_child(session: Session) -> None:
    unit = sgtin(5)
    _store(session, aggregation_event(sscc(2), [unit], minutes=10))
    _store(session, aggregation_event(sscc(1), [unit], minutes=1))
    assert parent_of(session, unit) == sscc(2)
    assert session.scalar(select(func.count()).select_from(Containment)) == 1


def test_sql_looking_strings_are_stored_verbatim(session: Session) -> None:
    nasty = "x'); DROP TABLE events; --"
    event = object_event([sgtin(nasty)], read_point=f"urn:x:{nasty}", biz_step=nasty)
    _store(session, event)
    stored = session.scalars(select(Event)).one()
    assert stored.biz_step == nasty
    assert events_for_epc(session, sgtin(nasty))[0].event_id == event["eventID"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"eventID": None}, "eventID is missing"),
        ({"eventTime": "yesterday"}, "eventTime 'yesterday' is not an ISO 8601 timestamp"),
        ({"eventTime": "2026-03-01T01:00:00"}, "has no time-zone offset"),
        ({"epcList": "urn:x"}, "epcList must be a list, got str"),
        ({"epcList": ["u" * 600]}, "epcList holds an invalid identifier"),
        ({"readPoint": "urn:x"}, "readPoint must be an object"),
        ({"eventID": "n" * 300}, "eventID is 300 characters long, at most 200 allowed"),
    ],
)
def test_index_event_names_the_bad_field(change: dict[str, Any], message: str) -> None:
    event = object_event([sgtin(1)]) | change
    with pytest.raises(EPCISError, match=message):
        index_event(event)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "eventID",
                "type",
                "eventTime",
                "epcList",
                "parentID",
                "childEPCs",
                "readPoint",
                "quantityList",
                "action",
                "bizStep",
            ]
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
            max_leaves=8,
        ),
    )
)
def test_index_event_never_crashes_on_random_json(event: dict[str, Any]) -> None:
    try:
        indexed = index_event(event)
    except EPCISError:
        return
    assert indexed.event_id == event["eventID"]
