"""Scenario 3: the ingestor SIGKILLed mid-ingest, twice, while the agent keeps publishing.

The ingestor acknowledges a message only after the transaction holding it has committed,
under a persistent session: what it had received but not stored comes again to the
restarted process, and the event-ID key makes a redelivered, already stored event harmless.
"""

from __future__ import annotations

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
    out_of_order,
    read_journal,
    send_command,
    settle,
    wait_stored,
)
from tests.support.broker import Collector, PrivateBroker
from tests.support.waiting import wait_until

# Safety nets against hangs, sized for a loaded machine; never speed assertions.
pytestmark = [pytest.mark.slow, pytest.mark.mqtt, pytest.mark.timeout(600)]

UNITS = 2500
KILLS = 2


def test_ingestor_killed_mid_ingest_loses_and_doubles_nothing(
    tmp_path: Path, server_db: ServerDb, fault_report: Record
) -> None:
    client_id = f"agg-{uuid.uuid4().hex[:8]}"
    with PrivateBroker(tmp_path / "broker") as broker:
        line = new_line(tmp_path / "line", broker.port)
        server_db.register(line)
        ingestor = IngestorProcess(server_db.url, broker.port, line.site, client_id)
        status = Collector(broker.port, line.topics.status)
        agent = AgentProcess(line, miss=0.02, rate=250)
        stored_at_kill: list[int] = []
        try:
            assert status.wait_for(bool, 20), "agent never came online"
            send_command(broker.port, line.topics, WorkOrderAction.LOAD, quantity=UNITS)
            send_command(broker.port, line.topics, WorkOrderAction.START)
            for kill in range(KILLS):
                target = (kill + 1) * UNITS // (KILLS + 2)
                wait_stored(server_db, line, target)
                ingestor.kill()
                stored_at_kill.append(server_db.count(line))
                time.sleep(1.0)  # the agent publishes on; the broker queues for the session
                ingestor = IngestorProcess(server_db.url, broker.port, line.site, client_id)
            wait_until(lambda: read_journal(line.journal).report is not None, "order closed", 300)
            code, log = agent.terminate()
            assert code == 0, log
            journal = read_journal(line.journal)
            result = settle(
                lambda: account(journal, server_db.epcs_by_step(line)), lambda r: r.lost == 0, 60
            )
            totals = ingestor.stop()
        finally:
            if agent.alive():
                agent.kill()
            status.close()
            if ingestor.process.poll() is None:
                ingestor.kill()

    late = out_of_order([seq for _, _, seq in server_db.events(line)])
    fault_report(
        "3_ingestor_sigkill",
        kills_survived=len(stored_at_kill),
        stored_at_each_kill=stored_at_kill,
        units=result.commissioned,
        lost=result.lost,
        duplicates=result.duplicates,
        out_of_order=late,
        redelivered_ignored_by_last_ingestor=totals.get("duplicates", 0),
    )
    assert result.commissioned == UNITS
    assert result.lost == 0
    assert result.duplicates == 0
    assert result.contradictions == 0
    assert late == 0
