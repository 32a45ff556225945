"""Events partitioned by year on PostgreSQL (migration 0010): stored once, traced
across partitions, new years' partitions made, and the migration reversible."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.cli import app
from server.db import downgrade, make_engine, make_session_factory, migrate
from server.db.events import EventOrigin, index_event, store_events, trace_events
from server.db.models import Event, EventEpc
from server.db.partitions import ensure_event_partitions, is_partitioned
from tests.server.factories import BASE_TIME, aggregation_event, object_event, sgtin, sscc
from tests.support.databases import postgres_database

ORIGIN = EventOrigin(line_id="L1", device_id="agent-1")
#: Minutes from the factories' base time (2026-03-01) to a day of another year.
_YEAR = 365 * 24 * 60


def _store(session: Session, *events: dict[str, Any]) -> set[str]:
    inserted = store_events(session, [(index_event(e), ORIGIN) for e in events])
    session.commit()
    return inserted


def _partition_of(session: Session, event_id: str) -> str:
    return str(
        session.scalar(
            text("SELECT tableoid::regclass::text FROM events WHERE event_id = :id"),
            {"id": event_id},
        )
    )


@pytest.fixture
def pg_session(session: Session) -> Session:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("partitioning is PostgreSQL's")
    # The factories' events fall in 2026 and 2027, whatever year the tests run in.
    session.execute(text("SELECT lineside_event_partitions(2026, 2027)"))
    session.commit()
    return session


def test_migrated_postgresql_store_is_partitioned_by_year(pg_session: Session) -> None:
    assert is_partitioned(pg_session.connection())
    this_year = datetime.now(UTC).year
    tables = set(inspect(pg_session.connection()).get_table_names())
    assert {f"events_y{this_year}", f"events_y{this_year + 1}", "events_default"} <= tables


def test_events_go_to_their_year_and_redelivery_is_refused(pg_session: Session) -> None:
    events = [
        object_event([sgtin(1)], minutes=-60 * 24 * 100),  # 2025-11: default partition
        object_event([sgtin(2)]),  # 2026
        object_event([sgtin(3)], minutes=_YEAR),  # 2027
    ]
    assert _store(pg_session, *events) == {e["eventID"] for e in events}
    assert [_partition_of(pg_session, e["eventID"]) for e in events] == [
        "events_default",
        "events_y2026",
        "events_y2027",
    ]
    assert _store(pg_session, *events) == set()
    assert _store(pg_session, events[0], object_event([sgtin(4)], minutes=_YEAR)) == {
        object_event([sgtin(4)], minutes=_YEAR)["eventID"]
    }
    assert pg_session.scalar(select(func.count()).select_from(Event)) == 4
    assert pg_session.scalar(select(func.count()).select_from(EventEpc)) == 4


def test_an_event_id_is_stored_once_whatever_its_time(pg_session: Session) -> None:
    first = object_event([sgtin(20)])
    # The same ID claimed by an event of another year (another partition): refused,
    # whether it comes in a later batch or in the same batch.
    later = {**object_event([sgtin(21)], minutes=_YEAR), "eventID": first["eventID"]}
    again = {**object_event([sgtin(22)], minutes=2 * _YEAR), "eventID": first["eventID"]}
    assert _store(pg_session, first) == {first["eventID"]}
    assert _store(pg_session, later) == set()
    other = object_event([sgtin(23)], minutes=_YEAR)
    twin = {**object_event([sgtin(24)]), "eventID": other["eventID"]}
    assert _store(pg_session, other, twin, again) == {other["eventID"]}
    stored = pg_session.scalars(select(EventEpc.epc).order_by(EventEpc.epc)).all()
    assert stored == sorted([sgtin(20), sgtin(23)])


def test_trace_crosses_partitions(pg_session: Session) -> None:
    unit = sgtin(10)
    commissioned = object_event([unit], minutes=-60 * 24 * 100)
    packed = aggregation_event(sscc(1), [unit], minutes=10)
    palletised = aggregation_event(sscc(2), [sscc(1)], minutes=_YEAR)
    shipped = object_event([sscc(2)], biz_step="shipping", action="OBSERVE", minutes=_YEAR + 5)
    _store(pg_session, shipped, palletised, packed, commissioned)
    found = [e.event_id for e in trace_events(pg_session, unit)]
    assert found == [e["eventID"] for e in (commissioned, packed, palletised, shipped)]
    assert len({_partition_of(pg_session, event_id) for event_id in found}) == 3


def test_ensure_partitions_moves_a_years_rows_out_of_the_default(pg_session: Session) -> None:
    year = datetime.now(UTC).year + 7
    late = BASE_TIME.replace(year=year)
    far = object_event([sgtin(20)], minutes=int((late - BASE_TIME).total_seconds() // 60))
    _store(pg_session, far)
    assert _partition_of(pg_session, far["eventID"]) == "events_default"
    made = ensure_event_partitions(pg_session.connection(), ahead=7)
    pg_session.commit()
    assert made[-1] == year
    assert _partition_of(pg_session, far["eventID"]) == f"events_y{year}"
    assert [e.event_id for e in trace_events(pg_session, sgtin(20))] == [far["eventID"]]
    assert ensure_event_partitions(pg_session.connection(), ahead=7) == []
    # Still refused once moved.
    assert _store(pg_session, far) == set()


@pytest.fixture
def fresh_pg() -> Iterator[Engine]:
    for url in postgres_database():
        migrate(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.mark.postgres
def test_downgrade_and_upgrade_keep_every_event(fresh_pg: Engine) -> None:
    url = fresh_pg.url.render_as_string(hide_password=False)
    events = [object_event([sgtin(n)], minutes=n * _YEAR // 2) for n in range(-2, 4)]
    with make_session_factory(fresh_pg)() as session:
        _store(session, *events)
        before = sorted(tuple(row) for row in session.execute(select(Event.pk, Event.event_id)))
    fresh_pg.dispose()

    downgrade(url, "0009")
    with fresh_pg.connect() as connection:
        assert not is_partitioned(connection)
        assert "events_default" not in inspect(connection).get_table_names()
        keys = inspect(connection).get_foreign_keys("event_epcs")
        assert [k["referred_table"] for k in keys] == ["events"]
        unique = inspect(connection).get_unique_constraints("events")
        assert [u["column_names"] for u in unique] == [["event_id"]]
    with make_session_factory(fresh_pg)() as session:
        assert (
            sorted(tuple(row) for row in session.execute(select(Event.pk, Event.event_id)))
            == before
        )
    fresh_pg.dispose()

    migrate(url)
    with make_session_factory(fresh_pg)() as session:
        assert is_partitioned(session.connection())
        assert (
            sorted(tuple(row) for row in session.execute(select(Event.pk, Event.event_id)))
            == before
        )
        # New events continue the key sequence.
        _store(session, object_event([sgtin(99)]))
        newest = session.scalar(select(func.max(Event.pk)))
        assert newest is not None
        assert newest > max(int(str(pk)) for pk, _ in before)


def test_partitions_command(session: Session, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINESIDE_SERVER_DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["server", "partitions", "--ahead", "5"])
    assert result.exit_code == 0, result.output
    if session.get_bind().dialect.name == "sqlite":
        assert "not partitioned" in result.output
        return
    this_year = datetime.now(UTC).year
    assert "event partitions up to date" in result.output
    tables = set(inspect(session.connection()).get_table_names())
    assert f"events_y{this_year + 5}" in tables
    again = CliRunner().invoke(app, ["server", "partitions", "--ahead", "5"])
    assert "(created: none)" in again.output
