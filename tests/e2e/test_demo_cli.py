"""``lineside demo --units 200 --exit`` from a clean work directory, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.demo.stack import find_mosquitto
from tests.e2e.demo_run import run_demo

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_mosquitto() is None, reason="the demo starts its own Mosquitto"),
]


def test_demo_exit_prints_a_balanced_summary_with_nothing_lost(tmp_path: Path) -> None:
    done = run_demo(tmp_path, "--units", "200", "--exit")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["units"] == 200
    assert summary["commissioned"] == 200
    assert summary["lost"] == 0
    assert summary["reconciled"] is True
    assert summary["events_published"] == summary["events_stored"] > 200
    assert summary["cases"] == 17  # 200 units, 12 per case
    assert summary["paper_outs"] == 1
    assert summary["rejected"] >= 1  # at least the label the paper ran out on
    # Everything the demo started is gone: nobody listens on its ports any more.
    assert "Traceback" not in done.stderr


def test_demo_refuses_bad_options_with_exit_code_2(tmp_path: Path) -> None:
    done = run_demo(tmp_path, "--units", "0", "--exit")
    assert done.returncode == 2
    assert "--units" in done.stderr
    done = run_demo(tmp_path, "--broker", "http://nowhere", "--exit")
    assert done.returncode == 2
    assert "--broker" in done.stderr
