"""The ingestor prepares one batch while another commits; nothing is acked unstored."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from server.db import make_engine, make_session_factory
from server.db.models import Event
from server.ingest import Ingestor, IngestSettings
from tests.server.factories import add_line, object_event, sgtin
from tests.server.ingest.conftest import Publisher, event_message
from tests.support.waiting import wait_until

pytestmark = pytest.mark.mqtt


def _messages(site: str, count: int) -> list[tuple[str, bytes]]:
    topic = contract.Topics(site, "L1").events
    return [
        (topic, event_message(site, "L1", n, object_event([sgtin(n)], seed=f"{site}-{n}")))
        for n in range(count)
    ]


def _stored(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(Event)) or 0


def test_many_small_batches_are_all_stored_in_order(
    session: Session,
    session_factory: sessionmaker[Session],
    site: str,
    publisher: Publisher,
    client_ids: Callable[[], str],
) -> None:
    add_line(session, "L1", site)
    settings = IngestSettings(client_id=client_ids(), sites=(site,), batch_size=7)
    with Ingestor(settings, session_factory) as ingestor:
        publisher.publish_many(_messages(site, 200))
        wait_until(lambda: ingestor.totals.stored == 200)
    with session_factory() as check:
        seqs = list(check.scalars(select(Event.seq).order_by(Event.pk)))
    # One publisher, one ingestor: batches commit in the order they were received.
    assert seqs == list(range(200))


def test_database_down_at_stop_leaves_messages_to_the_next_session(
    session: Session,
    session_factory: sessionmaker[Session],
    site: str,
    publisher: Publisher,
    client_ids: Callable[[], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_line(session, "L1", site)
    client_id = client_ids()
    settings = IngestSettings(
        client_id=client_id, sites=(site,), batch_size=10, retry_s=0.05, session_expiry_s=120
    )
    # Nothing listens on port 1: every batch fails with OperationalError.
    down = make_engine("postgresql://postgres@127.0.0.1:1/test", pool_pre_ping=False)
    caplog.set_level(logging.ERROR, logger="server.ingest.ingestor")
    try:
        with Ingestor(settings, make_session_factory(down)) as broken:
            publisher.publish_many(_messages(site, 50))
            wait_until(lambda: "database unavailable" in caplog.text)
        assert broken.totals.stored == 0
    finally:
        down.dispose()
    with Ingestor(settings, session_factory) as working:
        wait_until(lambda: working.totals.stored == 50)
    assert _stored(session_factory) == 50
