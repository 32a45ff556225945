"""``lineside bench`` keeps every suite's outcome and records how busy the machine was."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from app.bench import cli
from app.bench.report import Figure


def _fast(quick: bool) -> list[Figure]:
    return [Figure("fast_per_s", 10.0, "ops/s", target=5.0, baseline_name="slow", baseline=2.0)]


def _broken(quick: bool) -> list[Figure]:
    raise RuntimeError("the broker went away")


def test_report_records_load_and_keeps_going_after_a_failed_suite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "SUITES", {"broken": _broken, "fast": _fast})
    report = cli.run_suites(["broken", "fast"], quick=True)

    assert report["machine"]["cpus"] >= 1
    assert len(report["machine"]["load_average_at_start"]) == 3
    assert report["suites"]["broken"]["error"] == "RuntimeError: the broker went away"
    [figure] = report["suites"]["fast"]["figures"]
    assert figure["ratio"] == 5.0
    assert figure["meets_target"] is True
    assert report["machine"]["python_reference_s"] > 0
    for entry in report["suites"].values():
        assert all(load >= 0 for load in entry["load_average_after"])
        assert 0 <= entry["cpu_steal_share"] <= 1

    out = StringIO()
    cli.render_table(report, Console(file=out, width=160))
    text = out.getvalue()
    assert "fast_per_s" in text
    assert "the broker went away" in text
    assert "1-min load average at start" in text
    assert "CPU time stolen by the host during each suite: broken" in text
