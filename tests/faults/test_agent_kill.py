"""Scenario 1: the agent SIGKILLed at random points, 20 times, during a 5,000-unit run.

A real broker, a real ingestor storing into the server database. Afterwards: no serial was
used twice, every label sent is accounted for (reconciliation balances), and every
commissioned unit is stored exactly once at the server.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from pathlib import Path

import pytest

from lineside.contract import WorkOrderAction
from tests.faults.conftest import Record
from tests.faults.harness import (
    AgentProcess,
    IngestorProcess,
    ServerDb,
    account,
    new_line,
    read_journal,
    send_command,
)
from tests.support.broker import Collector, PrivateBroker
from tests.support.waiting import wait_until

# Safety nets against hangs, sized for a loaded machine; never speed assertions.
pytestmark = [pytest.mark.slow, pytest.mark.mqtt, pytest.mark.timeout(600)]

UNITS = 5000
KILLS = 20
#: Labels per second: slow enough that the 20 kills fall inside the run, not after it.
RATE = 250.0


def _wait_state(status: Collector, after: int, states: set[str], timeout: float = 20) -> None:
    assert status.wait_for(lambda ms: any(m.get("state") in states for m in ms[after:]), timeout), (
        f"agent never reported a state in {sorted(states)}"
    )


def test_sigkill_20_times_during_5000_units(
    tmp_path: Path, server_db: ServerDb, fault_report: Record
) -> None:
    rng = random.Random(1_2026)
    with PrivateBroker(tmp_path / "broker") as broker:
        line = new_line(tmp_path / "line", broker.port)
        server_db.register(line)
        ingestor = IngestorProcess(
            server_db.url, broker.port, line.site, f"agg-{uuid.uuid4().hex[:8]}"
        )
        status = Collector(broker.port, line.topics.status)
        reports = Collector(broker.port, line.topics.reports)
        kills = 0
        agent: AgentProcess | None = None
        try:
            while kills < KILLS and not reports.messages():
                mark = len(status.messages())
                agent = AgentProcess(line, miss=0.05, rate=RATE)
                _wait_state(status, mark, {"online", "paused", "running"})
                if kills == 0:
                    send_command(broker.port, line.topics, WorkOrderAction.LOAD, quantity=UNITS)
                send_command(broker.port, line.topics, WorkOrderAction.START)
                # Anywhere from before the START is handled to well into production.
                time.sleep(rng.uniform(0.1, 1.8))
                agent.kill()
                kills += 1
            mark = len(status.messages())
            agent = AgentProcess(line, miss=0.05)
            _wait_state(status, mark, {"online", "paused", "running"})
            send_command(broker.port, line.topics, WorkOrderAction.START)
            assert reports.wait_for(lambda ms: len(ms) >= 1, timeout=120), "never closed"
            code, err = agent.terminate()
            assert code == 0, err
            assert "Traceback" not in err
            journal = read_journal(line.journal)
            assert journal.outbox_events == 0  # everything reached the broker
            wait_until(
                lambda: account(journal, server_db.epcs_by_step(line)).lost == 0,
                "server stored every event of the journal",
                90,
            )
            totals = ingestor.stop()
        finally:
            if agent is not None and agent.alive():
                agent.kill()
            status.close()
            reports.close()
            if ingestor.process.poll() is None:
                ingestor.kill()

    report = json.loads(journal.report or "{}")
    lots = report["lots"]
    unaccounted = sum(
        lot["allocated"]
        - lot["commissioned"]
        - lot["rejected"]
        - lot["sampled"]
        - lot["returned"]
        - lot["voided"]
        for lot in lots
    )
    result = account(journal, server_db.epcs_by_step(line))
    fault_report(
        "1_agent_sigkill",
        kills_survived=kills,
        units=result.commissioned,
        labels_rejected=result.rejected,
        in_flight_at_a_kill=journal.in_flight_rejects,
        unaccounted=unaccounted,
        duplicates=result.duplicates,
        lost=result.lost,
        ingestor_duplicates_ignored=totals.get("duplicates", 0),
    )
    assert kills == KILLS
    assert lots[0]["commissioned"] == UNITS
    assert unaccounted == 0
    # No serial reused: the reserve never hands out a serial the journal knows, and no
    # unit carries two verdicts at the server.
    assert not journal.reserve & set(journal.states)
    assert set(journal.states.values()) <= {"commissioned", "rejected", "voided"}
    assert result.contradictions == 0
    assert result.commissioned == UNITS
    assert result.duplicates == 0
    assert result.lost == 0
    assert journal.in_flight_rejects > 0  # the kills struck with labels in flight
