"""Scenario 2: the broker stopped mid-run and restarted, with persistence and without.

The agent keeps producing during the outage; its outbox holds the events and redelivers
them once the broker is back. Checked at the server: nothing lost, nothing stored twice,
and (with persistence) each line's events stored in ``seq`` order.

A broker without persistence forgets the aggregator's subscription when it restarts: events
the agent sends before the aggregator has subscribed again are acknowledged by the broker and
dropped. The line then confirms with the server (``[outbox] confirm = "server"``): an event
leaves the outbox only on the aggregator's receipt and is sent again without one.
"""

from __future__ import annotations

import sqlite3
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
)
from tests.support.broker import Collector, PrivateBroker
from tests.support.waiting import wait_until

# Safety nets against hangs, sized for a loaded machine; never speed assertions.
pytestmark = [pytest.mark.slow, pytest.mark.mqtt, pytest.mark.timeout(600)]

RATE = 100.0  # labels per second


def _outbox_size(journal: Path) -> int:
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        db.close()


def _outbox_event_seqs(journal: Path) -> set[int]:
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT seq FROM outbox WHERE topic LIKE '%/events'").fetchall()
        return {int(row[0]) for row in rows}
    finally:
        db.close()


@pytest.mark.parametrize(
    ("persistence", "outage_s"),
    # The issue asks for 30 s; once is enough, the second mode runs a shorter outage.
    [pytest.param(True, 30.0, id="persistent-30s"), pytest.param(False, 5.0, id="volatile-5s")],
)
def test_broker_outage_loses_and_reorders_nothing(
    tmp_path: Path,
    server_db: ServerDb,
    fault_report: Record,
    persistence: bool,
    outage_s: float,
) -> None:
    units = int(RATE * (outage_s + 8))
    broker = PrivateBroker(tmp_path / "broker", persistence=persistence)
    broker.start()
    # Without persistence only the server's receipts make the outage lossless.
    confirm = "" if persistence else 'confirm = "server"\nresend_after_s = 2'
    line = new_line(tmp_path / "line", broker.port, outbox=confirm)
    server_db.register(line)
    ingestor = IngestorProcess(server_db.url, broker.port, line.site, f"agg-{uuid.uuid4().hex[:8]}")
    status = Collector(broker.port, line.topics.status)
    agent = AgentProcess(line, miss=0.02, rate=RATE)
    peak = 0
    try:
        assert status.wait_for(bool, 20), "agent never came online"
        send_command(broker.port, line.topics, WorkOrderAction.LOAD, quantity=units)
        send_command(broker.port, line.topics, WorkOrderAction.START)
        wait_until(lambda: server_db.count(line) >= 100, "first events stored", 30)
        status.close()
        broker.stop()
        stopped = time.monotonic()
        while time.monotonic() - stopped < outage_s:
            peak = max(peak, _outbox_size(line.journal))
            time.sleep(0.25)
        broker.start()
        status = Collector(broker.port, line.topics.status)
        wait_until(lambda: read_journal(line.journal).report is not None, "order closed", 300)
        code, log = agent.terminate()
        assert code == 0, log
        journal = read_journal(line.journal)
        assert journal.outbox_events == 0
        result = settle(
            lambda: account(journal, server_db.epcs_by_step(line)), lambda r: r.lost == 0, 45
        )
    finally:
        if agent.alive():
            agent.kill()
        status.close()
        if ingestor.process.poll() is None:
            ingestor.stop()
        broker.stop()

    late = out_of_order([seq for _, _, seq in server_db.events(line)])
    mode = "persistent" if persistence else "volatile"
    fault_report(
        f"2_broker_outage_{mode}",
        outage_s=outage_s,
        units=result.commissioned,
        outbox_peak=peak,
        lost=result.lost,
        duplicates=result.duplicates,
        out_of_order=late,
    )
    assert peak > RATE * outage_s / 4  # the line kept producing into the outbox
    assert result.commissioned == units
    assert result.lost == 0
    assert result.duplicates == 0
    assert result.contradictions == 0
    if persistence:
        # Events resent for want of a receipt are stored after later ones: only the
        # persistent broker keeps the order.
        assert late == 0


@pytest.mark.parametrize(
    "confirm",
    [
        "server",
        # The check of the check: confirmed by the broker's PUBACK, the backlog is lost.
        pytest.param("broker", marks=pytest.mark.xfail(strict=True, reason="events dropped")),
    ],
)
def test_events_sent_before_the_ingestor_subscribes_again_are_not_lost(
    tmp_path: Path, server_db: ServerDb, fault_report: Record, confirm: str
) -> None:
    """The order the volatile outage can take by chance, forced: the broker restarts without
    its state, the agent drains its whole backlog into it while no aggregator is subscribed
    (the broker acknowledges and drops every event), and only then does the ingestor come
    back. The events stay in the outbox until the server's receipts, and are resent."""
    units = 300
    broker = PrivateBroker(tmp_path / "broker", persistence=False)
    broker.start()
    line = new_line(
        tmp_path / "line", broker.port, outbox=f'confirm = "{confirm}"\nresend_after_s = 1'
    )
    server_db.register(line)
    client_id = f"agg-{uuid.uuid4().hex[:8]}"
    ingestor = IngestorProcess(server_db.url, broker.port, line.site, client_id)
    status = Collector(broker.port, line.topics.status)
    agent = AgentProcess(line, miss=0.02, rate=RATE)
    seen: Collector | None = None
    try:
        assert status.wait_for(bool, 20), "agent never came online"
        send_command(broker.port, line.topics, WorkOrderAction.LOAD, quantity=units)
        send_command(broker.port, line.topics, WorkOrderAction.START)
        wait_until(lambda: server_db.count(line) >= 50, "first events stored", 30)
        ingestor.stop()
        status.close()
        broker.stop()
        broker.start()  # a new broker: no session, no subscription of the aggregator
        seen = Collector(broker.port, line.topics.events)
        wait_until(lambda: read_journal(line.journal).report is not None, "order closed", 120)
        # The backlog went through the new broker to no aggregator (every event left in
        # the outbox has been published there)...
        wait_until(
            lambda: (
                bool(seen.payloads)
                and _outbox_event_seqs(line.journal) <= {m["seq"] for m in seen.messages()}
            ),
            "the backlog published into the new broker",
            60,
        )
        stored_before = server_db.count(line)
        waiting = len(_outbox_event_seqs(line.journal))
        if confirm == "server":
            # ...and it is still in the outbox: the server never confirmed it.
            assert waiting > 0
        ingestor = IngestorProcess(server_db.url, broker.port, line.site, client_id)
        wait_until(lambda: read_journal(line.journal).outbox_events == 0, "outbox confirmed", 60)
        code, log = agent.terminate()
        assert code == 0, log
        journal = read_journal(line.journal)
        result = settle(
            lambda: account(journal, server_db.epcs_by_step(line)), lambda r: r.lost == 0, 30
        )
    finally:
        if agent.alive():
            agent.kill()
        status.close()
        if seen is not None:
            seen.close()
        if ingestor.process.poll() is None:
            ingestor.stop()
        broker.stop()
    fault_report(
        f"2_broker_restart_ingestor_last_{confirm}",
        units=result.commissioned,
        stored_before_ingestor=stored_before,
        waiting_for_receipts=waiting,
        lost=result.lost,
        duplicates=result.duplicates,
    )
    assert result.commissioned == units
    assert result.lost == 0
    assert result.duplicates == 0
    assert result.contradictions == 0
