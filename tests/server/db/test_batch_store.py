"""Batched storing gives the same store as one event at a time, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session, sessionmaker

from server.db.events import EventOrigin, events_for_epc, index_event, store_events
from server.db.models import Containment, Event, EventEpc, EventSource
from tests.server.conftest import empty_all_tables
from tests.server.factories import aggregation_event, fake_event_id, object_event, sgtin, sscc

ORIGIN = EventOrigin(line_id="L1", device_id="agent-1", seq=1)

_aggregations = st.lists(
    st.builds(
        lambda parent, children, delete, minutes: aggregation_event(
            sscc(parent),
            [sgtin(c) for c in sorted(children)],
            action="DELETE" if delete else "ADD",
            minutes=minutes,
        ),
        st.integers(0, 2),
        st.sets(st.integers(0, 4), max_size=4),
        st.booleans(),
        st.integers(0, 4),
    ).filter(lambda e: e["action"] == "DELETE" or e["childEPCs"]),
    max_size=12,
)


def _containment(factory: sessionmaker[Session]) -> set[tuple[str, str, str]]:
    with factory() as session:
        rows = session.execute(
            select(Containment.child_epc, Containment.parent_epc, Containment.event_id)
        )
        return {(row[0], row[1], row[2]) for row in rows}


def _stored(factory: sessionmaker[Session], batches: list[list[dict[str, Any]]]) -> set[str]:
    inserted: set[str] = set()
    for batch in batches:
        with factory() as session, session.begin():
            inserted |= store_events(session, [(index_event(e), ORIGIN) for e in batch])
    return inserted


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(_aggregations)
def test_one_batch_moves_children_like_events_one_by_one(
    engine: Engine, session_factory: sessionmaker[Session], events: list[dict[str, Any]]
) -> None:
    empty_all_tables(engine)
    batched_ids = _stored(session_factory, [events])
    batched = _containment(session_factory)
    empty_all_tables(engine)
    # One event per transaction, oldest first: the plainest reading of the rules.
    ordered = sorted(events, key=lambda e: index_event(e).event_time)
    single_ids = _stored(session_factory, [[e] for e in ordered])
    assert batched == _containment(session_factory)
    assert batched_ids == single_ids


def test_a_child_packed_twice_in_one_batch_ends_in_the_newer_case(session: Session) -> None:
    unit = sgtin(1)
    newer = aggregation_event(sscc(2), [unit], minutes=9)
    older = aggregation_event(sscc(1), [unit], minutes=1)
    store_events(session, [(index_event(e), ORIGIN) for e in (newer, older)])
    session.commit()
    assert session.execute(select(Containment.parent_epc, Containment.event_id)).one() == (
        sscc(2),
        newer["eventID"],
    )


def test_optional_columns_may_all_be_empty(session: Session) -> None:
    event = object_event([sgtin(1)])
    for key in ("bizStep", "disposition", "readPoint", "bizLocation"):
        del event[key]
    captured = EventOrigin(source=EventSource.CAPTURE, capture_job_id="job-1")
    assert store_events(session, [(index_event(event), captured)]) == {event["eventID"]}
    session.commit()
    stored = session.scalars(select(Event)).one()
    assert (stored.biz_step, stored.read_point, stored.seq, stored.line_id) == (
        None,
        None,
        None,
        None,
    )
    assert (stored.source, stored.capture_job_id) == (EventSource.CAPTURE, "job-1")


def test_events_keep_the_batch_order_and_their_times(session: Session) -> None:
    events = [object_event([sgtin(n)], minutes=10 - n) for n in range(5)]
    store_events(session, [(index_event(e), ORIGIN) for e in events])
    session.commit()
    stored = session.scalars(select(Event).order_by(Event.pk)).all()
    assert [e.event_id for e in stored] == [e["eventID"] for e in events]
    assert stored[0].event_time == datetime(2026, 3, 1, 1, 10, tzinfo=UTC)


def test_a_value_too_long_for_its_column_fails_and_is_never_cut(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    event = object_event([sgtin(1)])
    origin = EventOrigin(line_id="L" * 65, device_id="agent-1")
    with pytest.raises(DataError, match="too long"):
        store_events(session, [(index_event(event), origin)])


def test_an_epc_in_two_roles_of_one_event_traces_to_it_once(session: Session) -> None:
    unit = sgtin(3)
    event = {
        "type": "TransformationEvent",
        "eventTime": "2026-03-01T01:00:00Z",
        "eventTimeZoneOffset": "+07:00",
        "inputEPCList": [unit],
        "outputEPCList": [unit],
        "eventID": fake_event_id("relabel"),
    }
    store_events(session, [(index_event(event), ORIGIN)])
    session.commit()
    assert len(session.scalars(select(EventEpc).where(EventEpc.epc == unit)).all()) == 2
    assert [e.event_id for e in events_for_epc(session, unit)] == [event["eventID"]]
