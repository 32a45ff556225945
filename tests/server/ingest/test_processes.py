"""Ingestor processes: killed mid-stream and restarted, and two on a shared subscription."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lineside import contract
from server.db.models import DeadLetter, Event, EventEpc
from tests.server.factories import add_line, object_event, sgtin
from tests.server.ingest.conftest import Publisher, event_message
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


def _spawn(db_url: str, site: str, client_id: str, *extra: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.ingest",
            "--db",
            db_url,
            "--site",
            site,
            "--client-id",
            client_id,
            "--batch-size",
            "10",
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    return process


def _finish(process: subprocess.Popen[str]) -> dict[str, int]:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", out)}


def _count(session_factory: sessionmaker[Session], what: type[Event] | type[EventEpc]) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(what)) or 0


def _messages(site: str, count: int, start: int = 0) -> list[tuple[str, bytes]]:
    topic = contract.Topics(site, "L1").events
    return [
        (topic, event_message(site, "L1", n, object_event([sgtin(n)], seed=f"{site}-{n}")))
        for n in range(start, start + count)
    ]


def test_killed_ingestor_loses_and_doubles_nothing(
    session: Session,
    session_factory: sessionmaker[Session],
    db_url: str,
    site: str,
    publisher: Publisher,
    client_ids: Callable[[], str],
) -> None:
    add_line(session, "L1", site)
    client_id = client_ids()
    first = _spawn(db_url, site, client_id)
    publisher.publish_many(_messages(site, 300))
    wait_until(lambda: _count(session_factory, Event) >= 30)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = _count(session_factory, Event)
    publisher.publish_many(_messages(site, 100, start=300))  # queued by the broker meanwhile
    second = _spawn(db_url, site, client_id)
    wait_until(lambda: _count(session_factory, Event) == 400)
    totals = _finish(second)
    assert killed_at < 400
    assert _count(session_factory, Event) == 400
    assert _count(session_factory, EventEpc) == 400
    assert totals["stored"] == 400 - killed_at
    with session_factory() as check:
        seqs = sorted(seq or 0 for seq in check.scalars(select(Event.seq)))
        assert check.scalar(select(func.count()).select_from(DeadLetter)) == 0
    assert seqs == list(range(400))


def test_two_ingestors_on_a_shared_subscription_store_each_event_once(
    session: Session,
    session_factory: sessionmaker[Session],
    db_url: str,
    site: str,
    publisher: Publisher,
    client_ids: Callable[[], str],
) -> None:
    add_line(session, "L1", site)
    group = f"g{site}"
    workers = [_spawn(db_url, site, client_ids(), "--share-group", group) for _ in range(2)]
    publisher.publish_many(_messages(site, 400))
    wait_until(lambda: _count(session_factory, Event) == 400)
    totals = [_finish(worker) for worker in workers]
    assert [t["duplicates"] for t in totals] == [0, 0]
    assert sum(t["stored"] for t in totals) == 400
    assert all(t["stored"] > 0 for t in totals)
    assert _count(session_factory, EventEpc) == 400
