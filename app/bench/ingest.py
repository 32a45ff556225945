"""Aggregator benchmark: MQTT ingest throughput (trace latency: :mod:`app.bench.trace`).

``bench_ingest`` publishes events to a real Mosquitto and measures how many stored
events per second the ingestor sustains into PostgreSQL and SQLite, side by side with a
naive consumer (one insert and commit per message) in the same run; the publisher runs
in a child process, as the lines do, so the figure is the ingestor's.

Without a broker address, a private Mosquitto is started on a free port with the
settings a deployment needs (no queue limit, no in-flight limit); otherwise the given
broker is used and publishing is windowed so its default queue limit drops nothing.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from app.bench.report import Figure
from app.cluster import postgres_database
from lineside import contract
from lineside.epcis import event_hash
from lineside.mqtt import BrokerEndpoint, connect, make_client
from server.db import make_engine, make_session_factory, migrate
from server.db.models import CompanyPrefix, Device, Line, Organisation
from server.ingest import Ingestor, IngestSettings

logger = logging.getLogger(__name__)

_WINDOW = 800
#: The ingest bench fails (rather than hangs) when nothing is stored for this long.
_STALL_S = 60.0
_T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: The company prefix of the bench's GTIN.
_BENCH_PREFIX = "8934567"


def _event(n: int, salt: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": (_T0 + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+07:00",
        "epcList": [f"https://id.gs1.org/01/08934567890128/21/{salt}{n}"],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "https://id.gs1.org/414/8934567000017"},
    }
    event["eventID"] = event_hash(event)  # the server refuses any other
    return event


@contextmanager
def _private_broker() -> Iterator[tuple[str, int]]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "mosquitto.conf"
        config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\n"
            "max_queued_messages 0\nmax_inflight_messages 0\npersistence false\n"
        )
        process = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield "127.0.0.1", port
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            migrate(url)
            yield url
        return
    with postgres_database("lineside_bench") as url:
        yield url


def _payloads(site: str, line: str, events: int) -> list[bytes]:
    return [
        contract.encode(
            contract.EventMessage(
                site=site, line=line, device="agent-1", seq=n, sent_at=_T0, event=_event(n, site)
            )
        )
        for n in range(events)
    ]


@dataclass(frozen=True, slots=True)
class _PublishJob:
    broker: tuple[str, int]
    site: str
    line: str
    events: int
    #: Never more than this many messages ahead of what the ingestor has stored.
    window: int


def _publish(job: _PublishJob, stored: Synchronized[int], ready: EventType, go: EventType) -> None:
    """The line side of the ingest bench, in its own process (as the lines are).

    Publishes ``job.events`` QoS 1 event messages once ``go`` is set, pacing itself on
    the count of stored events the parent writes into ``stored``.
    """
    window = job.window
    topic = contract.Topics(job.site, job.line).events
    payloads = _payloads(job.site, job.line, job.events)
    endpoint = BrokerEndpoint(*job.broker)
    publisher = make_client(endpoint, f"pub-{job.site}", persistent_session=False)
    publisher.max_inflight_messages_set(window)
    connect(publisher, endpoint, persistent_session=False)
    publisher.loop_start()
    try:
        ready.set()
        go.wait()
        last = None
        for n, payload in enumerate(payloads):
            while n - stored.value > window:
                time.sleep(0.0005)
            last = publisher.publish(topic, payload, qos=1)
        if last is not None:
            last.wait_for_publish(timeout=120)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


def _ingest_rate(
    broker: tuple[str, int], url: str, events: int, batch_size: int, window: int
) -> float:
    """Stored events per second, from the first publish to the last commit.

    The publisher runs in a child process: in one process it would take a third of the
    interpreter's time and the figure would measure the bench, not the ingestor.
    """
    site, line = f"b{uuid.uuid4().hex[:8]}", "L1"
    engine = make_engine(url, pool_pre_ping=False)  # as ``python -m server.ingest`` does
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        # The line belongs to the organisation holding the events' company prefix and may
        # draw its own serials, as a line running on its offline reserve does.
        held = session.get(CompanyPrefix, _BENCH_PREFIX)
        if held is None:
            org = Organisation(name="Bench", gs1_company_prefix=_BENCH_PREFIX)
            session.add(org)
            session.flush()
            organisation_id = org.id
        else:
            organisation_id = held.organisation_id
        session.add(
            Line(
                id=line,
                site=site,
                organisation_id=organisation_id,
                offline_reserve=10 * events,
            )
        )
        session.flush()
        session.add(Device(id="agent-1", line_id=line))
    settings = IngestSettings(
        host=broker[0],
        port=broker[1],
        client_id=f"bench-{site}",
        sites=(site,),
        session_expiry_s=60,
        batch_size=batch_size,
    )
    context = multiprocessing.get_context("spawn")
    stored = context.Value("q", 0)
    ready, go = context.Event(), context.Event()
    publisher = context.Process(
        target=_publish,
        args=(_PublishJob(broker, site, line, events, window), stored, ready, go),
        name=f"bench-publisher-{site}",
        daemon=True,
    )
    ingestor = Ingestor(settings, factory)
    ingestor.start()
    publisher.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("bench publisher did not start")
        started = time.perf_counter()
        go.set()
        progress = (0, started)
        while (done := ingestor.totals.stored) < events:
            stored.value = done
            now = time.perf_counter()
            if done > progress[0]:
                progress = (done, now)
            elif now - progress[1] > _STALL_S:
                raise RuntimeError(f"ingest bench stalled: {ingestor.totals} of {events}")
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
        publisher.join(60)
    finally:
        if publisher.is_alive():
            publisher.terminate()
            publisher.join()
        ingestor.stop()
        engine.dispose()
    return events / elapsed


def bench_ingest(events: int = 20000, broker: tuple[str, int] | None = None) -> list[Figure]:
    """Sustained stored events/s into PostgreSQL and SQLite, each beside a naive consumer.

    The naive consumer is the same ingestor committing and acknowledging every message on
    its own (batch of one); it runs on a quarter of the events to keep the run short.
    """
    figures: list[Figure] = []
    # Our broker queues without limit: let the ingestor hold a batch committing, one
    # prepared and one filling. A given broker may drop beyond 1000 queued messages.
    window = _WINDOW if broker is not None else 2000
    with _private_broker() if broker is None else _given(broker) as address:
        for backend, target in (("postgresql", 5000.0), ("sqlite", 2000.0)):
            with _database(backend) as url:
                batched = _ingest_rate(address, url, events, batch_size=500, window=window)
            with _database(backend) as url:
                naive = _ingest_rate(
                    address, url, max(200, events // 4), batch_size=1, window=window
                )
            figures.append(
                Figure(
                    f"ingest_{backend}_events_per_s",
                    round(batched, 1),
                    "events/s",
                    target=target,
                    baseline_name=f"naive_{backend}_events_per_s",
                    baseline=round(naive, 1),
                    note=(
                        f"{events} events over MQTT QoS 1 from a separate publisher process, "
                        "validated, batched ≤500"
                    ),
                )
            )
    return figures


@contextmanager
def _given(broker: tuple[str, int]) -> Iterator[tuple[str, int]]:
    yield broker
