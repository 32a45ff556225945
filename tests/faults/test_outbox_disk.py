"""Scenario 5: the outbox's disk nearly full.

Two ways the outbox runs out of room:

* its **disk budget** (``[outbox] disk_budget_mb``) is used up while the broker is away: an
  ``outbox_full`` alarm, the line pauses, and resumes by itself once the broker has taken
  the backlog — nothing lost;
* the **filesystem** itself is full (the line database on a 3 MB tmpfs): the line must raise
  an alarm and stop cleanly, the database must pass ``PRAGMA integrity_check``, and after
  space is freed the line must resume without losing anything.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import codes
from lineside.contract import AlarmCode, WorkOrderAction
from tests.edge.conftest import GTIN
from tests.faults.conftest import Record
from tests.faults.harness import (
    AgentProcess,
    IngestorProcess,
    ServerDb,
    account,
    new_line,
    read_journal,
    send_command,
    settle,
)
from tests.support.broker import Collector, PrivateBroker
from tests.support.waiting import wait_until

# Safety nets against hangs, sized for a loaded machine; never speed assertions.
pytestmark = [pytest.mark.slow, pytest.mark.mqtt, pytest.mark.timeout(600)]


def _held_still(journal: Path, timeout: float) -> dict[str, str]:
    """The journal's serial states once they stop changing for 2 s (the line holds)."""

    def unchanged(before: dict[str, str]) -> bool:
        time.sleep(2.0)
        return read_journal(journal).states == before

    return settle(lambda: read_journal(journal).states, unchanged, timeout)


def test_disk_budget_used_up_pauses_then_resumes_losing_nothing(
    tmp_path: Path, server_db: ServerDb, fault_report: Record
) -> None:
    units = 1500
    broker = PrivateBroker(tmp_path / "broker")
    broker.start()
    line = new_line(tmp_path / "line", broker.port, outbox="disk_budget_mb = 0.15")
    server_db.register(line)
    ingestor = IngestorProcess(server_db.url, broker.port, line.site, f"agg-{uuid.uuid4().hex[:8]}")
    status = Collector(broker.port, line.topics.status)
    alarms = Collector(broker.port, line.topics.alarms)
    agent = AgentProcess(line, miss=0.0, rate=300)
    try:
        assert status.wait_for(bool, 20), "agent never came online"
        send_command(broker.port, line.topics, WorkOrderAction.LOAD, quantity=units)
        send_command(broker.port, line.topics, WorkOrderAction.START)
        wait_until(lambda: server_db.count(line) >= 50, "first events stored", 30)
        status.close()
        broker.stop()
        # The outbox grows until its budget is used up; then the line holds still.
        held = _held_still(line.journal, timeout=40)
        pending_when_full = read_journal(line.journal).outbox_events
        broker.start()
        wait_until(lambda: read_journal(line.journal).report is not None, "order closed", 90)
        code, log = agent.terminate()
        assert code == 0, log
        journal = read_journal(line.journal)
        result = settle(
            lambda: account(journal, server_db.epcs_by_step(line)), lambda r: r.lost == 0, 45
        )
        codes = {m.get("code") for m in alarms.messages()}
    finally:
        if agent.alive():
            agent.kill()
        alarms.close()
        if ingestor.process.poll() is None:
            ingestor.stop()
        broker.stop()

    fault_report(
        "5_outbox_disk_budget",
        units=result.commissioned,
        held_at_units=sum(st == "commissioned" for st in held.values()),
        events_waiting_when_full=pending_when_full,
        alarms=sorted(c for c in codes if c),
        integrity=journal.integrity,
        lost=result.lost,
        duplicates=result.duplicates,
    )
    assert AlarmCode.OUTBOX_FULL.value in codes
    assert sum(st == "commissioned" for st in held.values()) < units  # it did stop
    assert journal.integrity == "ok"
    assert result.commissioned == units
    assert result.lost == 0
    assert result.duplicates == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs (needs root); skips when it cannot be mounted."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_full_filesystem_raises_an_alarm_and_stops_cleanly(
    tmp_path: Path, small_disk: Path, fault_report: Record
) -> None:
    with PrivateBroker(tmp_path / "broker") as broker:
        line = new_line(tmp_path / "line", broker.port, journal=small_disk / "line.db")
        status = Collector(broker.port, line.topics.status)
        alarms = Collector(broker.port, line.topics.alarms)
        events = Collector(broker.port, line.topics.events)
        agent = AgentProcess(line, miss=0.02)
        try:
            assert status.wait_for(bool, 20), "agent never came online"
            send_command(broker.port, line.topics, WorkOrderAction.LOAD, quantity=100_000)
            send_command(broker.port, line.topics, WorkOrderAction.START)
            alarmed = alarms.wait_for(
                lambda ms: any(m.get("code") == AlarmCode.OUTBOX_FULL.value for m in ms), 60
            )
            stopped = settle(lambda: not agent.alive(), bool, 15)
            exit_code = agent.process.returncode
            states = [m.get("state") for m in status.messages()]
            full = read_journal(line.journal)
            # Space is back (systemd would restart the agent): it recovers, nothing lost.
            subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
            mark = len(status.messages())
            agent = AgentProcess(line, miss=0.0)
            assert status.wait_for(
                lambda ms: any(m.get("state") == "paused" for m in ms[mark:]), 30
            ), "agent did not come back paused"
            wait_until(lambda: read_journal(line.journal).outbox_events == 0, "outbox sent", 60)
            code, log = agent.terminate()
            assert code == 0, log
        finally:
            if agent.alive():
                agent.kill()
            status.close()
            alarms.close()
        journal = read_journal(line.journal)
        delivered: dict[str, set[str]] = {"commissioning": set(), "decommissioning": set()}
        for message in events.messages():
            event = message["event"]
            step = str(event.get("bizStep", "")).rsplit("/", 1)[-1].rsplit(":", 1)[-1]
            delivered.setdefault(step, set()).update(event.get("epcList", []))
        events.close()
        printed_at_fault = sum(st != "allocated" for st in full.states.values())
        commissioned = {s for s, st in journal.states.items() if st == "commissioned"}
        rejected = {s for s, st in journal.states.items() if st == "rejected"}
        lost = len({codes.unit_epc(GTIN, s) for s in commissioned} - delivered["commissioning"])
        lost += len({codes.unit_epc(GTIN, s) for s in rejected} - delivered["decommissioning"])
        fault_report(
            "5_outbox_filesystem_full",
            alarm_raised=alarmed,
            agent_stopped=stopped,
            exit_code=exit_code,
            states_seen=sorted({s for s in states if s}),
            units_before_full=len(commissioned),
            in_flight_rejected_on_restart=journal.in_flight_rejects,
            lost=lost,
            integrity_when_full=full.integrity,
            integrity=journal.integrity,
        )
        assert full.integrity == "ok"
        assert journal.integrity == "ok"
        assert alarmed, f"no outbox_full alarm; the line said {states!r}"
        assert stopped
        assert exit_code == 74
        assert "stopping" in states
        assert printed_at_fault > 0
        # Every serial the journal knows has a verdict; none is left in flight.
        assert set(journal.states.values()) <= {"commissioned", "rejected", "voided"}
        assert lost == 0
