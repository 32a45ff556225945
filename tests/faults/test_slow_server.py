"""Scenario 6: a slow server — the ingestor frozen (SIGSTOP) while events pile up at the broker.

Two lines run side by side, each with its own broker and ingestor: one broker has the queue
settings of the configuration we ship (``config/mosquitto/mosquitto.conf``:
``max_queued_messages 0``, i.e. no limit), the other Mosquitto's default (1000). After the
ingestors resume, the first server has every event; the second lost some — Mosquitto
dropped them silently, and the agent, whose events the broker had acknowledged, cannot know.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from lineside.contract import WorkOrderAction
from tests.faults.conftest import Record
from tests.faults.harness import (
    REPO,
    AgentProcess,
    IngestorProcess,
    ServerDb,
    new_line,
    read_journal,
    send_command,
    settle_accounts,
    wait_closed,
    wait_stored,
)
from tests.support.broker import Collector, PrivateBroker

# Safety nets against hangs, sized for a loaded machine; never speed assertions.
pytestmark = [pytest.mark.slow, pytest.mark.mqtt, pytest.mark.timeout(600)]

SHIPPED = REPO / "config" / "mosquitto" / "mosquitto.conf"
QUEUE_KEYS = ("max_queued_messages", "max_queued_bytes", "max_inflight_messages")
RATE = 200.0
PAUSE_S = 25.0


def shipped_queue_settings() -> str:
    """The queue lines of the shipped broker configuration, verbatim."""
    lines = [
        line.strip()
        for line in SHIPPED.read_text().splitlines()
        if line.strip().split(" ", 1)[0] in QUEUE_KEYS
    ]
    assert any(line.startswith("max_queued_messages") for line in lines)
    return "\n".join(lines)


def test_frozen_ingestor_loses_nothing_with_shipped_queue_settings(
    tmp_path: Path, server_db: ServerDb, fault_report: Record
) -> None:
    shipped = shipped_queue_settings()
    units = int(RATE * (PAUSE_S + 4))
    setups = {
        # PrivateBroker already writes "max_queued_messages 0"; the later line wins.
        "shipped": shipped,
        "mosquitto_default": "max_queued_messages 1000\nmax_inflight_messages 20",
    }
    brokers: dict[str, PrivateBroker] = {}
    ingestors: dict[str, IngestorProcess] = {}
    agents: dict[str, AgentProcess] = {}
    lines = {}
    try:
        for name, extra in setups.items():
            broker = PrivateBroker(tmp_path / name / "broker", extra_config=extra)
            broker.start()
            brokers[name] = broker
            line = new_line(tmp_path / name / "line", broker.port)
            server_db.register(line)
            lines[name] = line
            ingestors[name] = IngestorProcess(
                server_db.url, broker.port, line.site, f"agg-{uuid.uuid4().hex[:8]}"
            )
            status = Collector(broker.port, line.topics.status)
            agents[name] = AgentProcess(line, miss=0.0, rate=RATE)
            assert status.wait_for(bool, 20), "agent never came online"
            status.close()
            send_command(broker.port, line.topics, WorkOrderAction.LOAD, quantity=units)
        for name, line in lines.items():
            send_command(brokers[name].port, line.topics, WorkOrderAction.START)
        for line in lines.values():
            wait_stored(server_db, line, 50)
        for ingestor in ingestors.values():
            ingestor.pause()
        time.sleep(PAUSE_S)
        for ingestor in ingestors.values():
            ingestor.resume()
        for name, line in lines.items():
            wait_closed(line)
            code, log = agents[name].terminate()
            assert code == 0, log
        results = {}
        for name, line in lines.items():
            journal = read_journal(line.journal)
            assert journal.outbox_events == 0  # the broker acknowledged every event
            results[name] = settle_accounts(
                journal, server_db, line, 45 if name == "shipped" else 8
            )
    finally:
        for agent in agents.values():
            if agent.alive():
                agent.kill()
        for ingestor in ingestors.values():
            if ingestor.process.poll() is None:
                ingestor.resume()
                ingestor.stop()
        for broker in brokers.values():
            broker.stop()

    fault_report(
        "6_slow_server",
        frozen_s=PAUSE_S,
        units=results["shipped"].commissioned,
        shipped_config_lost=results["shipped"].lost,
        shipped_config_duplicates=results["shipped"].duplicates,
        mosquitto_default_lost=results["mosquitto_default"].lost,
    )
    assert results["shipped"].commissioned == units
    assert results["shipped"].lost == 0
    assert results["shipped"].duplicates == 0
    # The contrast: Mosquitto's default queue limit drops what a frozen consumer cannot take.
    assert results["mosquitto_default"].lost > 0
