"""``lineside demo --embedded-broker``: the whole chain on the embedded amqtt broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.demo_run import run_demo

pytestmark = pytest.mark.slow


def test_demo_on_the_embedded_broker_loses_nothing_and_balances(tmp_path: Path) -> None:
    done = run_demo(tmp_path, "--units", "100", "--exit", "--embedded-broker")
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["broker"] == "embedded amqtt (MQTT 3.1.1)"
    assert summary["lost"] == 0
    assert summary["reconciled"] is True
    assert summary["ok"] is True
    assert summary["commissioned"] == 100
    assert summary["events_published"] == summary["events_stored"] > 100
    # The "where to look" panel says which broker serves and what it does not promise.
    assert "embedded amqtt (MQTT 3.1.1)" in done.stderr
    assert "not durable" in done.stderr
    assert "Traceback" not in done.stderr


def test_embedded_broker_and_a_given_broker_exclude_each_other(tmp_path: Path) -> None:
    done = run_demo(
        tmp_path, "--exit", "--embedded-broker", "--broker", "mqtt://127.0.0.1:1883", timeout=60
    )
    assert done.returncode == 2
    assert "--broker and --embedded-broker" in done.stderr
