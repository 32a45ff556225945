"""``lineside bench replica``: traces from a streaming standby vs from the primary, under
an ingest load, and how far the standby falls behind.

A primary and a hot standby are started on this host (:mod:`app.bench.pg_cluster`),
loaded with commissioned units packed in cases, and analysed. Then a separate process
stores events into the primary as fast as it can, in batches of 500 committed one at a
time (what the ingestor does); meanwhile the bench runs full traces (the service the
trace API, the resolver and the consumer page call) in a closed loop, switching target
every phase (standby, primary, standby, ...) so both see the same load and the same
neighbours on a shared machine. A sampler measures the replication lag
(:func:`server.db.replica.replication_lag`, the server's own check) all along, and for
a moment before the load as the idle baseline.

These are the per-node figures behind docs/scaling.md ("Read replica and national
scale"): the traces per second one node answers, the events per second one primary
stores while its reads are elsewhere, and the lag a standby adds.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.bench.pg_cluster import ReplicationPair, replication_pair
from app.bench.report import Figure, percentile
from server.db import make_engine, make_session_factory, migrate
from server.db.engine import make_read_engine
from server.db.events import EventOrigin, index_event, store_events
from server.db.models import Organisation, Product
from server.db.replica import replication_lag
from server.services.codes import parse_code
from server.services.tracing import trace, trace_domains

_T0 = datetime(2026, 1, 1, tzinfo=UTC)
_GTIN = "08934567890120"
_PREFIX = "8934567"
_DOMAINS = trace_domains("https://id.example.vn")
_BATCH = 500
#: Replication lag the server tolerates by default (``replica_max_lag_seconds``).
_DEFAULT_LIMIT_S = 5.0
#: A node's memory for the bench: enough to hold the loaded store.
_BENCH_SETTINGS = ("shared_buffers=128MB",)


def _unit(n: int, salt: str) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": f"ni:///sha-256;{hashlib.sha256(f'{salt}{n}'.encode()).hexdigest()}?ver=CBV2.0",
        "eventTime": (_T0 + timedelta(milliseconds=n)).isoformat(),
        "eventTimeZoneOffset": "+07:00",
        "epcList": [f"https://id.gs1.org/01/{_GTIN}/21/{salt}{n}"],
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "readPoint": {"id": "https://id.gs1.org/414/8934567000017"},
        "ilmd": {"cbvmda:lotNumber": "L1", "cbvmda:itemExpirationDate": "2030-12-31"},
    }


def _case(number: int, units: list[str]) -> dict[str, Any]:
    sscc = f"https://id.gs1.org/00/3{_PREFIX}{number:010d}"
    return {
        "type": "AggregationEvent",
        "eventID": f"ni:///sha-256;{hashlib.sha256(sscc.encode()).hexdigest()}?ver=CBV2.0",
        "eventTime": (_T0 + timedelta(seconds=number)).isoformat(),
        "eventTimeZoneOffset": "+07:00",
        "parentID": sscc,
        "childEPCs": units,
        "action": "ADD",
        "bizStep": "packing",
    }


def _batches(start: int, salt: str, per_case: int = 10) -> Iterator[list[dict[str, Any]]]:
    """Endless batches of units and the cases they are packed in, numbered from ``start``."""
    n, case = start, start // per_case
    while True:
        batch: list[dict[str, Any]] = []
        while len(batch) < _BATCH:
            units = [_unit(n + i, salt) for i in range(per_case)]
            n += per_case
            case += 1
            batch.extend(units)
            batch.append(_case(case, [u["epcList"][0] for u in units]))
        yield batch


def _store(factory: sessionmaker[Session], batch: list[dict[str, Any]]) -> None:
    origin = EventOrigin(line_id="L1", device_id="agent-1")
    with factory() as session, session.begin():
        store_events(session, [(index_event(event), origin) for event in batch])


def _load(url: str, events: int) -> list[str]:
    """Store ``events`` events (units and cases) and the product; return the unit codes."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session, session.begin():
        org = Organisation(name="Bench", gs1_company_prefix=_PREFIX)
        session.add(org)
        session.flush()
        session.add(Product(gtin=_GTIN, organisation_id=org.id, name_vi="Bench"))
    units: list[str] = []
    stored = 0
    for batch in _batches(0, "u"):
        _store(factory, batch)
        units += [e["epcList"][0] for e in batch if e["type"] == "ObjectEvent"]
        stored += len(batch)
        if stored >= events:
            break
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
    engine.dispose()
    return units


def _ingest(url: str, stored: Synchronized[int], ready: EventType, stop: EventType) -> None:
    """The ingest load, in its own process: batches of 500 events committed one by one."""
    engine = make_engine(url, pool_pre_ping=False)
    factory = make_session_factory(engine)
    batches = _batches(10**9, "i")
    ready.set()
    try:
        while not stop.is_set():
            batch = next(batches)
            _store(factory, batch)
            with stored.get_lock():
                stored.value += len(batch)
    finally:
        engine.dispose()


@dataclass
class _LagSampler:
    """Samples the standby's lag every ``every`` seconds in a thread."""

    primary_url: str
    standby_url: str
    every: float = 0.1
    seconds: list[float] = field(default_factory=list)
    behind: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: str = ""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="lag-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> tuple[list[float], list[int]]:
        """Stop and return the samples (seconds, bytes) taken since :meth:`start`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        if self.error:
            raise RuntimeError(self.error)
        samples = (self.seconds, self.behind)
        self.seconds, self.behind, self._stop = [], [], threading.Event()
        return samples

    def _run(self) -> None:
        primary = create_engine(self.primary_url, isolation_level="AUTOCOMMIT")
        standby = create_engine(self.standby_url, isolation_level="AUTOCOMMIT")
        try:
            with primary.connect() as p, standby.connect() as s:
                while not self._stop.wait(self.every):
                    lag = replication_lag(p, s)
                    self.seconds.append(lag.seconds)
                    self.behind.append(lag.bytes)
        except SQLAlchemyError as exc:
            self.error = f"lag sampling stopped: {exc}"
        finally:
            primary.dispose()
            standby.dispose()


@dataclass
class _Phases:
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"standby": [], "primary": []}
    )
    busy: dict[str, float] = field(default_factory=lambda: {"standby": 0.0, "primary": 0.0})
    ingested: dict[str, int] = field(default_factory=lambda: {"standby": 0, "primary": 0})


def _run_phases(
    targets: dict[str, sessionmaker[Session]],
    units: list[str],
    seconds: float,
    phase: float,
    ingested: Callable[[], int],
) -> _Phases:
    rng = random.Random(7)
    result = _Phases()
    order = ["standby", "primary"]
    deadline = time.perf_counter() + seconds
    turn = 0
    while time.perf_counter() < deadline:
        name = order[turn % 2]
        turn += 1
        before = ingested()
        started = now = time.perf_counter()
        with targets[name]() as session:
            while (now := time.perf_counter()) - started < phase:
                ref = parse_code(rng.choice(units))
                begun = time.perf_counter()
                found = trace(session, ref, _DOMAINS)
                result.latencies[name].append((time.perf_counter() - begun) * 1000)
                if found.commissioned is None or not found.parents:
                    raise RuntimeError(f"trace of {ref.described} found no history on {name}")
        result.busy[name] += now - started
        result.ingested[name] += ingested() - before
    return result


def bench_replica(events: int = 200_000, seconds: float = 30.0, phase: float = 2.0) -> list[Figure]:
    """Trace latency and rate from the standby vs the primary under an ingest load; the
    primary's ingest rate with the reads on either; the standby's lag idle and loaded."""
    with replication_pair(settings=_BENCH_SETTINGS) as pair:
        return _bench(pair, events, seconds, phase)


def _bench(pair: ReplicationPair, events: int, seconds: float, phase: float) -> list[Figure]:
    admin = create_engine(pair.primary_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text('CREATE DATABASE "lineside"'))
    admin.dispose()
    primary_url, standby_url = pair.primary_url("lineside"), pair.standby_url("lineside")
    migrate(primary_url)
    units = _load(primary_url, events)
    pair.wait_replayed(timeout=300)

    sampler = _LagSampler(primary_url, standby_url)
    sampler.start()
    time.sleep(min(3.0, seconds / 5))
    idle_lag, _ = sampler.stop()

    context = multiprocessing.get_context("spawn")
    stored = context.Value("q", 0)
    ready, stop = context.Event(), context.Event()
    loader = context.Process(
        target=_ingest, args=(primary_url, stored, ready, stop), name="bench-ingest", daemon=True
    )
    primary_engine = make_engine(primary_url)
    standby_engine = make_read_engine(standby_url)
    targets = {
        "standby": make_session_factory(standby_engine),
        "primary": make_session_factory(primary_engine),
    }
    loader.start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the ingest load did not start")
        time.sleep(1.0)  # let the load settle
        sampler.start()
        try:
            phases = _run_phases(targets, units, seconds, phase, lambda: int(stored.value))
        finally:
            loaded_lag, loaded_bytes = sampler.stop()
    finally:
        stop.set()
        loader.join(60)
        if loader.is_alive():
            loader.terminate()
            loader.join()
        primary_engine.dispose()
        standby_engine.dispose()
    return _figures(events, phases, idle_lag, loaded_lag, loaded_bytes)


def _ms(values: list[float], q: float) -> float:
    return round(percentile(values, q), 2)


def _figures(
    events: int,
    phases: _Phases,
    idle_lag: list[float],
    loaded_lag: list[float],
    loaded_bytes: list[int],
) -> list[Figure]:
    on_standby, on_primary = phases.latencies["standby"], phases.latencies["primary"]
    note = (
        f"{events} events loaded; full traces of random units in alternating phases while "
        "another process stores batches of 500 events into the primary"
    )
    finite = [lag for lag in loaded_lag if not math.isinf(lag)]
    over = sum(1 for lag in loaded_lag if lag > _DEFAULT_LIMIT_S)
    lag_note = (
        f"{len(loaded_lag)} samples every 0.1 s under the ingest load; max "
        f"{max(finite, default=math.nan) * 1000:.0f} ms, p99 behind "
        f"{percentile([float(b) for b in loaded_bytes], 0.99) / 1024:.0f} KiB of WAL; "
        f"{over} samples over the default {_DEFAULT_LIMIT_S:g} s limit; baseline: idle"
    )
    return [
        Figure(
            "replica_trace_p50_ms",
            _ms(on_standby, 0.5),
            "ms",
            lower_is_better=True,
            baseline_name="primary_trace_p50_ms",
            baseline=_ms(on_primary, 0.5),
            note=note,
        ),
        Figure(
            "replica_trace_p99_ms",
            _ms(on_standby, 0.99),
            "ms",
            target=50.0,
            lower_is_better=True,
            baseline_name="primary_trace_p99_ms",
            baseline=_ms(on_primary, 0.99),
            note=note,
        ),
        Figure(
            "replica_traces_per_s",
            round(len(on_standby) / phases.busy["standby"], 1),
            "traces/s",
            baseline_name="primary_traces_per_s",
            baseline=round(len(on_primary) / phases.busy["primary"], 1),
            note="one closed-loop reader, " + note,
        ),
        Figure(
            "ingest_events_per_s_reads_on_replica",
            round(phases.ingested["standby"] / phases.busy["standby"], 1),
            "events/s",
            baseline_name="ingest_events_per_s_reads_on_primary",
            baseline=round(phases.ingested["primary"] / phases.busy["primary"], 1),
            note="events the primary stored while the traces ran on the standby vs on it",
        ),
        Figure(
            "replica_lag_p99_ms",
            round(percentile(loaded_lag, 0.99) * 1000, 1),
            "ms",
            target=_DEFAULT_LIMIT_S * 1000,
            lower_is_better=True,
            baseline_name="replica_lag_idle_p99_ms",
            baseline=round(percentile(idle_lag, 0.99) * 1000, 1),
            note=lag_note,
        ),
    ]
