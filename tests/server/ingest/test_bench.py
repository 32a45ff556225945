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
def test_bench_ingest_reports_every_run_beside_the_broker_ceiling() -> None:
    figures = bench_ingest(events=400, broker_runs=1)
    assert [f.name for f in figures] == [
        "broker_e2e_msgs_per_s",
        "ingest_postgresql_events_per_s",
        "ingest_postgresql_events_per_s_2_ingestors",
        "ingest_postgresql_events_per_s_4_ingestors",
        "ingest_sqlite_events_per_s",
    ]
    ceiling = figures[0].value
    assert ceiling > 0
    for figure in figures[1:]:
        assert figure.value > 0
        assert figure.baseline == ceiling
        # The target is 0.75 of the unrounded ceiling; both figures are rounded to 0.1.
        assert figure.target == pytest.approx(0.75 * ceiling, abs=0.1)
