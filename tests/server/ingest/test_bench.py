"""The benchmarks run end to end on tiny inputs (figures are for ``lineside bench``)."""

from __future__ import annotations

import os
import shutil

import pytest

from app.bench.ingest import bench_ingest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.mark.mqtt
@pytest.mark.skipif(
    shutil.which("mosquitto") is None and not os.path.exists("/usr/sbin/mosquitto"),
    reason="mosquitto binary not installed",
)
def test_bench_ingest_reports_both_backends_beside_naive() -> None:
    figures = bench_ingest(events=400)
    assert [f.name for f in figures] == [
        "ingest_postgresql_events_per_s",
        "ingest_sqlite_events_per_s",
    ]
    assert all(f.value > 0 and f.baseline is not None and f.baseline > 0 for f in figures)
