"""Trace latency over a large store, and the time to load it.

``bench_trace`` loads :mod:`app.bench.trace_data` into PostgreSQL with ``COPY`` (then
``VACUUM ANALYZE``, as autovacuum would in time), and measures a full trace of random
units (:func:`server.db.events.trace_events`: a unit's events, its case's and its
pallet's) beside the trace as one query per containment level, in the same run.

The loaded PostgreSQL database (``lineside_trace_<events>``) is kept: a marker table
records what was loaded, by which loader and at which schema revision, and how long it
took, so a second run with the same size measures at once (and reports the first load's
time). Any other marker, or none, and the database is built afresh. SQLite, an in-process
library for small sites, is measured at a smaller size in a temporary file.
"""

from __future__ import annotations

import json
import logging
import random
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.bench.report import Figure
from app.bench.trace_data import (
    CONTAINMENT_COLUMNS,
    EPC_COLUMNS,
    EVENT_COLUMNS,
    YEARS,
    Row,
    generate,
    unit_epc,
    units_per_line,
)
from app.cluster import PG_ADMIN_URL
from server.db import head_revision, make_engine, make_session_factory, migrate
from server.db.events import events_for_epc, parent_of, trace_events
from server.db.models import Containment, Event, EventEpc
from server.db.partitions import is_partitioned

logger = logging.getLogger(__name__)

#: Bump when :mod:`app.bench.trace_data` changes what it generates: kept databases of
#: an older loader are then rebuilt.
LOADER_VERSION = 2
LINES = 20
_CHUNK = 200_000
_COLUMNS = {
    "events": EVENT_COLUMNS,
    "event_epcs": EPC_COLUMNS,
    "containment": CONTAINMENT_COLUMNS,
}


@dataclass(frozen=True, slots=True)
class LoadedStore:
    """A loaded trace store: where, how big, and how long the load took."""

    url: str
    events: int
    load_s: float
    reused: bool


def _size_label(events: int) -> str:
    if events >= 1_000_000 and events % 1_000_000 == 0:
        return f"{events // 1_000_000}m"
    return f"{events // 1000}k"


def _chunks(events: int) -> Iterable[dict[str, list[Row]]]:
    chunk: dict[str, list[Row]] = {name: [] for name in _COLUMNS}
    count = 0
    for table, row in generate(events, LINES):
        chunk[table].append(row)
        count += 1
        if count >= _CHUNK:
            yield chunk
            chunk = {name: [] for name in _COLUMNS}
            count = 0
    if count:
        yield chunk


def _copy_load(url: str, events: int) -> int:
    """COPY the generated rows in; returns how many events were loaded."""
    import psycopg

    loaded = 0
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        for chunk in _chunks(events):
            with connection.cursor() as cursor:
                for table, columns in _COLUMNS.items():
                    rows = chunk[table]
                    if not rows:
                        continue
                    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                    with cursor.copy(statement) as copy:
                        for row in rows:
                            copy.write_row(row)
            connection.commit()
            loaded += len(chunk["events"])
    return loaded


def _marker(engine: Engine) -> tuple[int, int, str, float] | None:
    with engine.connect() as connection:
        exists = connection.scalar(
            text("SELECT to_regclass(:name) IS NOT NULL"), {"name": "bench_trace_marker"}
        )
        if not exists:
            return None
        row = connection.execute(
            text("SELECT events, loader, revision, load_s FROM bench_trace_marker")
        ).first()
    return None if row is None else (int(row[0]), int(row[1]), str(row[2]), float(row[3]))


def _vacuum_analyze(engine: Engine) -> None:
    with engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.exec_driver_sql("VACUUM ANALYZE")


def postgres_store(
    events: int, revision: str | None = None, name: str | None = None
) -> LoadedStore:
    """The kept PostgreSQL store of ``events`` events, loaded now unless already there.

    ``revision`` migrates to that schema revision instead of the head (to measure a
    schema against another); ``name`` overrides the database name.
    """
    target = revision or head_revision()
    database = name or f"lineside_trace_{_size_label(events)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    url = admin.url.set(database=database).render_as_string(hide_password=False)
    try:
        with admin.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            )
        if exists:
            engine = make_engine(url)
            try:
                marker = _marker(engine)
            finally:
                engine.dispose()
            if marker is not None and marker[1:3] == (LOADER_VERSION, target):
                logger.info("trace bench: reusing %s (%d events)", database, marker[0])
                return LoadedStore(url, marker[0], marker[3], reused=True)
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        admin.dispose()
    migrate(url, revision=target)
    logger.info("trace bench: loading %d events into %s", events, database)
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        with engine.begin() as connection:
            if is_partitioned(connection):
                # As on a store kept since then: each year of the data has its partition.
                connection.execute(
                    text("SELECT lineside_event_partitions(:first, :last)"),
                    {"first": YEARS[0], "last": YEARS[-1]},
                )
        loaded = _copy_load(url, events)
        _vacuum_analyze(engine)
        load_s = time.perf_counter() - started
        with engine.begin() as connection:
            connection.execute(
                text(
                    "CREATE TABLE bench_trace_marker (events bigint, loader integer,"
                    " revision text, load_s double precision, loaded_at timestamptz DEFAULT now())"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO bench_trace_marker VALUES (:events, :loader, :revision, :load_s)"
                ),
                {"events": loaded, "loader": LOADER_VERSION, "revision": target, "load_s": load_s},
            )
    finally:
        engine.dispose()
    return LoadedStore(url, loaded, load_s, reused=False)


def _sqlite_load(url: str, events: int) -> int:
    tables = {"events": Event, "event_epcs": EventEpc, "containment": Containment}
    engine = make_engine(url)
    loaded = 0
    try:
        for chunk in _chunks(events):
            with engine.begin() as connection:
                for table, columns in _COLUMNS.items():
                    rows = [dict(zip(columns, row, strict=True)) for row in chunk[table]]
                    if table == "events":
                        for row in rows:
                            row["document"] = json.loads(row["document"])
                    if rows:
                        connection.execute(insert(tables[table]), rows)
            loaded += len(chunk["events"])
    finally:
        engine.dispose()
    return loaded


def _per_level(session: Session, unit: str) -> list[Event]:
    """The baseline: the events of the unit, then its container's and so on, a query each."""
    found = list(events_for_epc(session, unit))
    current = unit
    while (container := parent_of(session, current)) is not None:
        found += events_for_epc(session, container)
        current = container
    return found


def _latencies(
    engine: Engine,
    events: int,
    queries: int,
    trace: Callable[[Session, str], list[Event]],
    seed: int,
) -> list[float]:
    per_line = units_per_line(events, LINES)
    rng = random.Random(seed)
    timings: list[float] = []
    with make_session_factory(engine)() as session:
        for _ in range(queries):
            unit = unit_epc(rng.randrange(LINES), rng.randrange(per_line))
            started = time.perf_counter()
            found = trace(session, unit)
            timings.append((time.perf_counter() - started) * 1000)
            # Commissioning, case packing, pallet packing, shipping.
            if len({event.event_id for event in found}) != 4:
                raise RuntimeError(f"trace of {unit} found {len(found)} events, not 4")
            session.expunge_all()
    return sorted(timings)


def _percentile(timings: list[float], share: float) -> float:
    return timings[min(len(timings) - 1, int(len(timings) * share))]


def _trace_figures(
    backend: str, engine: Engine, events: int, *, queries: int, label: str, target: float
) -> list[Figure]:
    # Both ways read the same rows of the same units: read them once with each first, or
    # the way timed second finds in the cache what the first read from disk (on a store
    # just loaded, that alone made the per-level baseline look twice as fast).
    for trace in (trace_events, _per_level):
        _latencies(engine, events, queries, trace, seed=7)
    one = _latencies(engine, events, queries, trace_events, seed=7)
    levels = _latencies(engine, events, queries, _per_level, seed=7)
    note = (
        f"{events:,} events on {LINES} lines, {queries} random units (unit, case, pallet, "
        "shipping): one recursive query vs a query per containment level"
    )
    return [
        Figure(
            f"trace_{backend}_p50_ms_{label}",
            round(_percentile(one, 0.5), 2),
            "ms",
            lower_is_better=True,
            baseline_name=f"trace_per_level_{backend}_p50_ms_{label}",
            baseline=round(_percentile(levels, 0.5), 2),
            note=note,
        ),
        Figure(
            f"trace_{backend}_p99_ms_{label}",
            round(_percentile(one, 0.99), 2),
            "ms",
            target=target,
            lower_is_better=True,
            baseline_name=f"trace_per_level_{backend}_p99_ms_{label}",
            baseline=round(_percentile(levels, 0.99), 2),
            note=note,
        ),
    ]


def bench_trace(
    events: int = 10_000_000,
    sqlite_events: int = 200_000,
    queries: int = 1000,
    database: str | None = None,
) -> list[Figure]:
    """Trace p50/p99 on PostgreSQL at ``events`` (and SQLite at ``sqlite_events``),
    and the PostgreSQL load time; ``database`` names the kept PostgreSQL database."""
    label = _size_label(events)
    store = postgres_store(events, name=database)
    engine = make_engine(store.url)
    try:
        figures = _trace_figures(
            "postgresql", engine, store.events, queries=queries, label=label, target=10.0
        )
    finally:
        engine.dispose()
    when = "in an earlier run (database kept)" if store.reused else "in this run"
    figures.append(
        Figure(
            f"trace_postgresql_load_s_{label}",
            round(store.load_s, 1),
            "s",
            lower_is_better=True,
            note=(
                f"{store.events:,} events with their identifiers and containment, COPY then "
                f"VACUUM ANALYZE, loaded {when}"
            ),
        )
    )
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'trace.db'}"
        migrate(url)
        loaded = _sqlite_load(url, sqlite_events)
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
            figures += _trace_figures(
                "sqlite",
                engine,
                loaded,
                queries=queries,
                label=_size_label(sqlite_events),
                target=50.0,
            )
        finally:
            engine.dispose()
    return figures
