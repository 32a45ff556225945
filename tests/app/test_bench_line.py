"""``lineside bench line --units N`` against the local Mosquitto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.bench import cli
from tests.support.broker import broker_up

pytestmark = pytest.mark.mqtt


@pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883")
def test_bench_line_runs_the_number_of_units_asked(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = CliRunner().invoke(cli.app, ["line", "--units", "40", "--out", str(out)])
    assert result.exit_code == 0, result.output
    figures = {f["name"]: f for f in json.loads(out.read_text())["suites"]["line"]["figures"]}
    assert "over 40 units" in figures["line_rss_growth_mb"]["note"]
    assert "flat out, 40 units" in figures["line_units_per_s"]["note"]
    assert figures["line_units_per_s"]["baseline"] > 0
    for name in ("line_latency_p99_ms", "line_paced_latency_p99_ms"):
        assert figures[name]["value"] >= figures[name.replace("p99", "p50")]["value"] > 0
    # The shorter queues, run side by side: each beside the default's figure.
    for n in (8, 4):
        rate = figures[f"line_units_per_s_{n}_in_flight"]
        assert rate["value"] > 0
        assert rate["baseline"] == figures["line_units_per_s"]["value"]
        assert f"at most {n} in flight" in rate["note"]
        p99 = figures[f"line_latency_p99_ms_{n}_in_flight"]
        assert p99["value"] > 0
        assert p99["baseline"] == figures["line_latency_p99_ms"]["value"]


def test_only_the_line_suite_takes_a_number_of_units() -> None:
    result = CliRunner().invoke(cli.app, ["print", "--units", "40"])
    assert result.exit_code != 0
