"""The trace bench on a tiny store: figures, and the loaded database kept for next time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from app.bench.trace import bench_trace, postgres_store
from app.bench.trace_data import EVENTS_PER_PALLET
from app.cluster import PG_ADMIN_URL

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def database() -> Iterator[str]:
    name = f"lineside_test_trace_{uuid.uuid4().hex[:10]}"
    yield name
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_bench_trace_reports_percentiles_and_load_time(database: str) -> None:
    figures = {
        f.name: f
        for f in bench_trace(events=1000, sqlite_events=1000, queries=20, database=database)
    }
    assert set(figures) == {
        "trace_postgresql_p50_ms_1k",
        "trace_postgresql_p99_ms_1k",
        "trace_postgresql_load_s_1k",
        "trace_sqlite_p50_ms_1k",
        "trace_sqlite_p99_ms_1k",
    }
    p50, p99 = figures["trace_postgresql_p50_ms_1k"], figures["trace_postgresql_p99_ms_1k"]
    assert 0 < p50.value <= p99.value
    assert p99.baseline_name == "trace_per_level_postgresql_p99_ms_1k"
    assert figures["trace_postgresql_load_s_1k"].value > 0
    assert "in this run" in figures["trace_postgresql_load_s_1k"].note


def test_loaded_store_is_kept_and_reused(database: str) -> None:
    first = postgres_store(1000, name=database)
    again = postgres_store(1000, name=database)
    assert (first.reused, again.reused) == (False, True)
    # Whole pallets on every one of the 20 lines.
    assert again.events == first.events == 20 * EVENTS_PER_PALLET
    assert again.load_s == first.load_s
    engine = create_engine(again.url)
    with engine.connect() as connection:
        where = "SELECT tableoid::regclass::text, count(*) FROM events GROUP BY 1 ORDER BY 1"
        spread = {str(name): int(count) for name, count in connection.execute(text(where))}
    engine.dispose()
    # Each year of the data in its partition, none in the default one.
    assert "events_default" not in spread
    assert {"events_y2025", "events_y2026"} <= set(spread)
    assert sum(spread.values()) == again.events
    # A marker of another loader or schema, and the store is loaded afresh.
    engine = create_engine(again.url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE bench_trace_marker SET revision = 'older'"))
    engine.dispose()
    assert postgres_store(1000, name=database).reused is False
