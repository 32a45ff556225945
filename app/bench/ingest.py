"""Aggregator benchmark: MQTT ingest throughput (trace latency: :mod:`app.bench.trace`).

``bench_ingest`` publishes events to a real Mosquitto and measures how many stored
events per second ingestor processes sustain into PostgreSQL (one, two and four sharing
a subscription) and SQLite, beside the broker's own ceiling in the same run: the same
messages, published the same way, taken by a consumer that stores nothing. Publisher
and consumers run in child processes, as lines and aggregators do, so the figures are
theirs and not the bench's.

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
from datetime import UTC, date, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

from app.bench.report import Figure
from app.cluster import postgres_database
from app.demo.stack import mosquitto_config
from lineside import contract
from lineside.epcis.builders import CommissioningTemplate
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


#: The events a line sends: commissioning with its lot and expiry, eventID the event hash
#: (the server refuses any other), built as the line builds them.
_COMMISSIONING = CommissioningTemplate(
    read_point="https://id.gs1.org/414/8934567000017/254/L1",
    biz_location="https://id.gs1.org/414/8934567000017",
    lot="L2601",
    expiry=date(2027, 1, 1),
)


def _event(n: int, salt: str) -> dict[str, Any]:
    epc = f"https://id.gs1.org/01/08934567890128/21/{salt}{n}"
    return _COMMISSIONING.event(epc, _T0 + timedelta(milliseconds=n))


@contextmanager
def _private_broker() -> Iterator[tuple[str, int]]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "mosquitto.conf"
        config.write_text(mosquitto_config(port, Path(folder)), encoding="utf-8")
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
    #: Never more than this many messages ahead of what the consumers have taken.
    window: int


def _publish(job: _PublishJob, taken: Synchronized[int], ready: EventType, go: EventType) -> None:
    """The line side of the ingest bench, in its own process (as the lines are).

    Publishes ``job.events`` QoS 1 event messages once ``go`` is set, pacing itself on
    the count of consumed messages the parent writes into ``taken``.
    """
    window = job.window
    topic = contract.Topics(job.site, job.line).events
    payloads = _payloads(job.site, job.line, job.events)
    endpoint = BrokerEndpoint(*job.broker)
    # No paho in-flight limit: the loop below keeps at most ``window`` messages ahead of
    # the consumers. paho's own limit walks every message in flight on each PUBACK; with
    # thousands in flight that took 12 % of this process in a profile and made the
    # broker's measured ceiling this publisher's.
    publisher = make_client(endpoint, f"pub-{job.site}", persistent_session=False, max_inflight=0)
    connect(publisher, endpoint, persistent_session=False)
    publisher.loop_start()
    try:
        ready.set()
        go.wait()
        last = None
        for n, payload in enumerate(payloads):
            while n - taken.value > window:
                time.sleep(0.0005)
            last = publisher.publish(topic, payload, qos=1)
        if last is not None:
            last.wait_for_publish(timeout=120)
    finally:
        publisher.disconnect()
        publisher.loop_stop()


@dataclass(frozen=True, slots=True)
class _ConsumeJob:
    """One consumer process: a broker-only consumer (``url`` None) or an ingestor."""

    settings: IngestSettings
    url: str | None = None


def _consume(job: _ConsumeJob, taken: Synchronized[int], ready: EventType, stop: EventType) -> None:
    """A consumer process: counts into ``taken`` what it has stored (an ingestor) or
    received (the broker baseline: QoS 1, each message acknowledged on receipt, nothing
    decoded or stored) until ``stop`` is set."""
    if job.url is None:
        _count_received(job.settings, taken, ready, stop)
        return
    engine = make_engine(job.url, pool_pre_ping=False)  # as ``python -m server.ingest`` does
    ingestor = Ingestor(job.settings, make_session_factory(engine))
    ingestor.start()
    try:
        ready.set()
        # Every 10 ms (a run lasts seconds): this loop runs in the measured process, and
        # read every millisecond it took the GIL from the ingestor's threads a thousand
        # times a second.
        while not stop.wait(0.01):
            taken.value = ingestor.totals.stored
    finally:
        ingestor.stop()
        taken.value = ingestor.totals.stored
        engine.dispose()


def _count_received(
    settings: IngestSettings, taken: Synchronized[int], ready: EventType, stop: EventType
) -> None:
    endpoint = settings.endpoint
    client = make_client(endpoint, settings.client_id, persistent_session=False)
    received = 0

    def on_message(_client: Any, _userdata: Any, _message: Any) -> None:
        nonlocal received
        received += 1
        taken.value = received

    client.on_message = on_message
    client.on_subscribe = lambda *_: ready.set()
    connect(client, endpoint, persistent_session=False)
    client.subscribe(settings.subscriptions()[0][0], qos=1)
    client.loop_start()
    try:
        stop.wait()
    finally:
        client.disconnect()
        client.loop_stop()


def _seed(url: str, site: str, line: str, events: int) -> None:
    """Register the bench's line, as a line running on its offline reserve."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            # The line belongs to the organisation holding the events' company prefix and
            # may draw its own serials, as a line running on its offline reserve does.
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
                    id=line, site=site, organisation_id=organisation_id, offline_reserve=10 * events
                )
            )
            session.flush()
            session.add(Device(id="agent-1", line_id=line))
    finally:
        engine.dispose()


def _rate(
    broker: tuple[str, int],
    events: int,
    window: int,
    url: str | None = None,
    ingestors: int = 1,
) -> float:
    """Messages per second from the first publish until the consumers have them all.

    With ``url``, ``ingestors`` ingestor processes share the events through one MQTT
    shared subscription and a message counts once stored; without, one consumer
    process that stores nothing counts it on receipt (the broker's ceiling). The
    publisher runs in a process of its own, as the lines do, and publishes the same
    messages either way; the parent only watches.
    """
    site, line = f"b{uuid.uuid4().hex[:8]}", "L1"
    if url is not None:
        _seed(url, site, line, events)
    context = multiprocessing.get_context("spawn")
    taken = context.Value("q", 0)
    ready, go, stop = context.Event(), context.Event(), context.Event()
    publisher = context.Process(
        target=_publish,
        args=(_PublishJob(broker, site, line, events, window), taken, ready, go),
        name=f"bench-publisher-{site}",
        daemon=True,
    )
    consumers = []
    for n in range(ingestors if url is not None else 1):
        settings = IngestSettings(
            host=broker[0],
            port=broker[1],
            client_id=f"bench-{site}-{n}",
            share_group="bench" if url is not None and ingestors > 1 else None,
            sites=(site,),
            session_expiry_s=60,
        )
        counter, consumer_ready = context.Value("q", 0), context.Event()
        process = context.Process(
            target=_consume,
            args=(_ConsumeJob(settings, url), counter, consumer_ready, stop),
            name=f"bench-consumer-{site}-{n}",
            daemon=True,
        )
        process.start()
        consumers.append((process, counter, consumer_ready))
    publisher.start()
    try:
        for process, _, consumer_ready in consumers:
            if not consumer_ready.wait(60):
                raise RuntimeError(f"bench consumer {process.name} did not start")
        if not ready.wait(60):
            raise RuntimeError("bench publisher did not start")
        started = time.perf_counter()
        go.set()
        progress = (0, started)
        while (done := sum(counter.value for _, counter, _ in consumers)) < events:
            taken.value = done
            now = time.perf_counter()
            if done > progress[0]:
                progress = (done, now)
            elif now - progress[1] > _STALL_S:
                raise RuntimeError(f"ingest bench stalled at {done} of {events}")
            time.sleep(0.001)
        elapsed = time.perf_counter() - started
        publisher.join(60)
    finally:
        stop.set()
        for process in [publisher, *(p for p, _, _ in consumers)]:
            process.join(60)
            if process.is_alive():
                process.terminate()
                process.join()
    return events / elapsed


def bench_ingest(
    events: int = 20000, broker: tuple[str, int] | None = None, broker_runs: int = 3
) -> list[Figure]:
    """Sustained stored events/s into PostgreSQL (1, 2 and 4 ingestor processes) and
    SQLite, against the broker's own ceiling measured in the same run.

    The ceiling (``broker_e2e_msgs_per_s``) is the same messages, published the same way,
    taken by a consumer that acknowledges them (QoS 1) and stores nothing: the best of
    ``broker_runs`` runs, interleaved with the ingest runs so that it sees the same load.
    """
    # Our broker queues without limit: let the ingestor hold a batch committing, one
    # prepared and one filling. A given broker may drop beyond 1000 queued messages.
    window = _WINDOW if broker is not None else 2000
    ingest: dict[str, float] = {}
    ceiling: list[float] = []
    runs = [("postgresql", 1), ("postgresql", 2), ("postgresql", 4), ("sqlite", 1)]
    with _private_broker() if broker is None else _given(broker) as address:
        for n, (backend, ingestors) in enumerate(runs):
            if n < broker_runs:
                ceiling.append(_rate(address, events, window))
            with _database(backend) as url:
                name = f"ingest_{backend}_events_per_s"
                if ingestors > 1:
                    name += f"_{ingestors}_ingestors"
                ingest[name] = _rate(address, events, window, url, ingestors)
        ceiling.extend(_rate(address, events, window) for _ in range(broker_runs - len(runs)))
    best = max(ceiling)
    note = f"{events} events over MQTT QoS 1 from a separate publisher process"
    figures = [
        Figure(
            "broker_e2e_msgs_per_s",
            round(best, 1),
            "msgs/s",
            note=f"{note}, consumed and acknowledged, nothing stored; best of "
            + ", ".join(f"{rate:.0f}" for rate in ceiling),
        )
    ]
    for name, rate in ingest.items():
        figures.append(
            Figure(
                name,
                round(rate, 1),
                "events/s",
                target=round(0.75 * best, 1),
                baseline_name="broker_e2e_msgs_per_s",
                baseline=round(best, 1),
                note=f"{note}, validated, batched ≤500, stored",
            )
        )
    return figures


@contextmanager
def _given(broker: tuple[str, int]) -> Iterator[tuple[str, int]]:
    yield broker
