"""The agent as a real process: commands over MQTT, SIGKILL at random points, SIGTERM."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from lineside import contract
from lineside.contract import Topics, WorkOrderAction, WorkOrderCommand
from tests.edge.conftest import make_order
from tests.support.broker import Collector, broker_up

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883"),
]

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "line.toml"
    path.write_text(f"""
[line]
site = "factory-1"
line_id = "{line}"
site_gln = "8934567000017"
company_prefix = "8934567"
[broker]
url = "mqtt://127.0.0.1:1883"
keepalive_s = 5
[timing]
verify_window_ms = 200
max_in_flight = 8
allocation_batch = 4
[policy]
max_consecutive_rejects = 50
[outbox]
path = "line.db"
[web]
enabled = false
""")
    return path


def _agent(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from app.cli import main; main()",
            "edge",
            "run",
            "--config",
            str(config),
            "--simulate",
            "--miss",
            "0.1",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


def _send(topics: Topics, action: WorkOrderAction, with_order: bool = False) -> None:
    command = WorkOrderCommand(
        command_id="c" + uuid.uuid4().hex[:8],
        action=action,
        work_order_id="WO-K",
        order=make_order("WO-K", quantity=400, units_per_case=12) if with_order else None,
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    client.publish(topics.commands, contract.encode(command), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def _wait_status(collector: Collector, after: int, states: set[str], timeout: float = 15) -> None:
    assert collector.wait_for(
        lambda ms: any(m.get("state") in states for m in ms[after:]), timeout
    ), f"no status in {states}"


def test_sigkill_at_random_points_loses_and_reuses_nothing(tmp_path: Path) -> None:
    line = "K" + uuid.uuid4().hex[:8]
    topics = Topics("factory-1", line)
    config = _config(tmp_path, line)
    events = Collector(1883, topics.events)
    status = Collector(1883, topics.status)
    reports = Collector(1883, topics.reports)
    rng = random.Random(42)
    try:
        for attempt in range(3):
            mark = len(status.messages())
            agent = _agent(config)
            _wait_status(status, mark, {"online", "paused", "running"})
            if attempt == 0:
                _send(topics, WorkOrderAction.LOAD, with_order=True)
            _send(topics, WorkOrderAction.START)
            time.sleep(rng.uniform(0.3, 1.0))
            agent.send_signal(signal.SIGKILL)
            agent.wait(10)
        mark = len(status.messages())
        agent = _agent(config)
        _wait_status(status, mark, {"online", "paused", "running"})
        _send(topics, WorkOrderAction.START)
        assert reports.wait_for(lambda ms: len(ms) >= 1, timeout=40), "work order never closed"
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        _, err = agent.communicate()
        assert b"Traceback" not in err
        report = reports.messages()[0]
        assert all(
            lot["allocated"] == lot["commissioned"] + lot["rejected"] + lot["voided"]
            for lot in report["lots"]
        )
        assert report["lots"][0]["commissioned"] == 400
        assert status.wait_for(lambda ms: ms[-1].get("state") == "offline", timeout=10)

        db = sqlite3.connect(tmp_path / "line.db")
        states = dict(db.execute("SELECT serial, state FROM serials").fetchall())
        # Every event reached the broker before the graceful stop. (A late command's ack may
        # wait in the outbox for the next start: it is durable, not lost.)
        left = db.execute("SELECT topic FROM outbox WHERE topic LIKE '%/events'").fetchall()
        assert left == []
        db.close()
        assert events.wait_for(lambda ms: len({m["event"]["eventID"] for m in ms}) >= 400, 20)
        commissioned_at_broker: dict[str, set[str]] = {}
        decommissioned_at_broker: set[str] = set()
        for message in events.messages():
            event = message["event"]
            for epc in event.get("epcList", []):
                serial = epc.rsplit("/", 1)[1]
                if event["bizStep"] == "commissioning":
                    commissioned_at_broker.setdefault(serial, set()).add(event["eventID"])
                else:
                    decommissioned_at_broker.add(serial)
        journal_commissioned = {s for s, st in states.items() if st == "commissioned"}
        assert set(commissioned_at_broker) == journal_commissioned
        assert all(len(ids) == 1 for ids in commissioned_at_broker.values())
        assert not journal_commissioned & decommissioned_at_broker
        printed_then_lost = {s for s, st in states.items() if st == "rejected"}
        assert printed_then_lost <= decommissioned_at_broker
        assert all(st in {"commissioned", "rejected", "voided"} for st in states.values())
        db = sqlite3.connect(tmp_path / "line.db")
        killed = db.execute(
            "SELECT count(*) FROM serials WHERE reason = 'in flight when the agent stopped'"
        ).fetchone()[0]
        db.close()
        assert killed > 0  # the kills did strike with labels between printer and scanner
    finally:
        for c in (events, status, reports):
            c.close()
