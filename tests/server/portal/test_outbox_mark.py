"""The outbox reads only events stored since its last run, and never skips a late commit."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from server.db.events import EventOrigin, index_event, store_events
from server.db.models import Event, PortalMark, PortalOutboxEntry
from server.portal import PortalTarget, enqueue_new
from tests.server.factories import object_event, sgtin

TARGET = PortalTarget(name="national", url="http://portal.test/capture", mark_interval_s=0)


def _store(session: Session, *serials: int) -> list[str]:
    events = [object_event([sgtin(n)], minutes=n) for n in serials]
    store_events(session, [(index_event(e), EventOrigin()) for e in events])
    return [e["eventID"] for e in events]


def _enqueue(factory: sessionmaker[Session], target: PortalTarget = TARGET) -> int:
    with factory() as session, session.begin():
        return enqueue_new(session, target)


def _entries(session: Session) -> set[str]:
    return set(session.scalars(select(PortalOutboxEntry.event_id)))


def test_mark_follows_the_stored_events(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    _store(session, 1, 2, 3)
    session.commit()
    assert _enqueue(session_factory) == 3
    highest = session.scalar(select(func.max(Event.pk)))
    assert session.scalar(select(PortalMark.last_event_pk)) == highest
    assert _enqueue(session_factory) == 0
    later = _store(session, 4, 5)
    session.commit()
    assert _enqueue(session_factory) == 2
    assert later[0] in _entries(session)


def test_events_below_the_mark_are_not_read_again(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    first = _store(session, 1, 2)
    session.commit()
    assert _enqueue(session_factory) == 2
    # Entries gone (pruned, say): a full rescan would add them back; the mark does not.
    session.execute(delete(PortalOutboxEntry))
    session.commit()
    newer = _store(session, 3)
    session.commit()
    assert _enqueue(session_factory) == 1
    assert _entries(session) == set(newer)
    assert not set(first) & _entries(session)


def test_each_target_has_its_own_mark(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    _store(session, 1, 2)
    session.commit()
    assert _enqueue(session_factory) == 2
    other = TARGET.model_copy(update={"name": "provincial"})
    assert _enqueue(session_factory, other) == 2
    marks = {
        row[0]: row[1]
        for row in session.execute(select(PortalMark.target, PortalMark.last_event_pk))
    }
    assert set(marks) == {"national", "provincial"}


def test_mark_waits_for_the_interval_but_events_still_arrive(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    slow = TARGET.model_copy(update={"mark_interval_s": 3600})
    _store(session, 1)
    session.commit()
    assert _enqueue(session_factory, slow) == 1
    mark = session.scalar(select(PortalMark.last_event_pk))
    _store(session, 2)
    session.commit()
    # Not moved this time, yet the new event is queued (read above the old mark).
    assert _enqueue(session_factory, slow) == 1
    session.expire_all()
    assert session.scalar(select(PortalMark.last_event_pk)) == mark


def test_a_late_commit_below_newer_rows_is_not_skipped(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: commits cannot overtake each other there")
    with session_factory() as slow:
        (late,) = _store(slow, 1)  # takes the lower row id, commits last
        early = _store(session, 2)
        session.commit()
        # The mark cannot settle while ``slow`` is open: it stays, and gives up waiting.
        assert _enqueue(session_factory) == 1
        assert session.scalar(select(func.count()).select_from(PortalMark)) == 0
        slow.commit()
    assert _enqueue(session_factory) == 1
    assert _entries(session) == {late, *early}
    assert session.scalar(select(PortalMark.last_event_pk)) == session.scalar(
        select(func.max(Event.pk))
    )
