"""``lineside bench replica`` runs end to end on a tiny store (figures are for the bench)."""

from __future__ import annotations

import pytest

from app.bench.pg_cluster import find_bindir
from app.bench.replica import bench_replica
from lineside.errors import ConfigError

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_bench_replica_reports_standby_beside_primary() -> None:
    try:
        find_bindir()
    except ConfigError as exc:
        pytest.skip(str(exc))
    figures = {f.name: f for f in bench_replica(events=1000, seconds=2.0, phase=0.5)}
    assert set(figures) == {
        "replica_trace_p50_ms",
        "replica_trace_p99_ms",
        "replica_traces_per_s",
        "ingest_events_per_s_reads_on_replica",
        "replica_lag_p99_ms",
    }
    for name in ("replica_trace_p50_ms", "replica_traces_per_s"):
        assert figures[name].value > 0
        baseline = figures[name].baseline
        assert baseline is not None
        assert baseline > 0
    assert figures["replica_trace_p50_ms"].value <= figures["replica_trace_p99_ms"].value
    assert figures["ingest_events_per_s_reads_on_replica"].value > 0
