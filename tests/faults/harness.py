"""The parts every fault scenario drives: agent and ingestor processes, commands, checks.

Everything is real: ``lineside edge run`` and ``python -m server.ingest`` as processes, a
Mosquitto of the test's own (:class:`tests.support.broker.PrivateBroker`), the server
database (PostgreSQL, or SQLite when it is absent), and the line's SQLite journal.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from edge import codes
from lineside import contract
from lineside.contract import Topics, WorkOrderAction, WorkOrderCommand
from server.db import make_engine, make_session_factory
from server.db.models import Event, EventEpc
from tests.edge.conftest import GTIN, make_order
from tests.server.factories import add_line
from tests.support.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]

T = TypeVar("T")


def settle(measure: Callable[[], T], done: Callable[[T], bool], timeout: float) -> T:
    """Measure until ``done(value)`` or ``timeout``; return the last value either way
    (so a scenario can report a figure before it asserts on it)."""
    deadline = time.monotonic() + timeout
    value = measure()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = measure()
    return value


@dataclass(frozen=True)
class LineSetup:
    """One line of the test: its identity, its configuration file and its journal."""

    site: str
    line_id: str
    config: Path
    journal: Path

    @property
    def topics(self) -> Topics:
        return Topics(self.site, self.line_id)


def new_line(
    workdir: Path,
    broker_port: int,
    *,
    journal: Path | None = None,
    verify_window_ms: int = 200,
    outbox: str = "",
) -> LineSetup:
    """Write a line configuration (simulated devices, no web screen) under ``workdir``."""
    site = "f" + uuid.uuid4().hex[:8]
    line_id = "L" + uuid.uuid4().hex[:8]
    workdir.mkdir(parents=True, exist_ok=True)
    journal = journal or workdir / "line.db"
    config = workdir / "line.toml"
    config.write_text(f"""
[line]
site = "{site}"
line_id = "{line_id}"
site_gln = "8934567000017"
company_prefix = "8934567"
[broker]
url = "mqtt://127.0.0.1:{broker_port}"
keepalive_s = 5
[timing]
verify_window_ms = {verify_window_ms}
max_in_flight = 8
allocation_batch = 4
[policy]
max_consecutive_rejects = 50
[outbox]
path = "{journal}"
{outbox}
[web]
enabled = false
""")
    return LineSetup(site, line_id, config, journal)


class AgentProcess:
    """``lineside edge run --simulate`` as a child process."""

    def __init__(self, line: LineSetup, *, miss: float = 0.05, rate: float = 0.0) -> None:
        #: Every life of the agent appends its log here (read it when a scenario fails).
        self.log = line.config.with_name("agent.log")
        with self.log.open("ab") as log:
            log.write(b"--- agent started ---\n")
        self._log = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from app.cli import main; main()",
                "edge",
                "run",
                "--config",
                str(line.config),
                "--simulate",
                "--miss",
                str(miss),
                "--rate",
                str(rate),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def terminate(self, timeout: float = 30) -> tuple[int, str]:
        """SIGTERM (graceful stop); returns the exit code and this life's log."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout)
        self._log.close()
        text = self.log.read_text("utf-8", "replace")
        return self.process.returncode, text.rsplit("--- agent started ---", 1)[-1]

    def alive(self) -> bool:
        return self.process.poll() is None


def send_command(
    port: int, topics: Topics, action: WorkOrderAction, *, quantity: int = 0, per_case: int = 12
) -> None:
    """Publish one work-order command (QoS 1; the agent's persistent session keeps it)."""
    command = WorkOrderCommand(
        command_id="c" + uuid.uuid4().hex[:8],
        action=action,
        work_order_id="WO-F",
        order=make_order("WO-F", quantity=quantity, units_per_case=per_case)
        if action is WorkOrderAction.LOAD
        else None,
    )
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topics.commands, contract.encode(command), qos=1).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


class IngestorProcess:
    """``python -m server.ingest`` for one site, as a child process (stable client ID)."""

    def __init__(self, db_url: str, port: int, site: str, client_id: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server.ingest",
                "--db",
                db_url,
                "--port",
                str(port),
                "--site",
                site,
                "--client-id",
                client_id,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO)},
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline().strip()
        assert ready == "ready", f"ingestor did not start: {ready!r}"

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> dict[str, int]:
        """SIGTERM; returns the totals it prints (stored, duplicates, ...)."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        assert self.process.returncode == 0
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", out)}


class ServerDb:
    """The server database of a scenario: register lines, read back what was stored."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)

    def register(self, line: LineSetup) -> None:
        """Register the line (the agent publishes as device ``line_id``)."""
        with self.sessions() as session:
            add_line(session, line.line_id, line.site, devices=(line.line_id,), prefix=GTIN[1:8])

    def events(self, line: LineSetup) -> list[tuple[str, str | None, int | None]]:
        """(event ID, bizStep, seq) of every event of ``line``, in storage order."""
        with self.sessions() as session:
            rows = session.execute(
                select(Event.event_id, Event.biz_step, Event.seq)
                .where(Event.line_id == line.line_id)
                .order_by(Event.pk)
            )
            return [(r[0], r[1], r[2]) for r in rows]

    def count(self, line: LineSetup) -> int:
        return len(self.events(line))

    def epcs_by_step(self, line: LineSetup) -> dict[str, Counter[str]]:
        """For each bizStep, how many stored events name each EPC."""
        by_step: dict[str, Counter[str]] = {}
        with self.sessions() as session:
            rows = session.execute(
                select(Event.biz_step, EventEpc.epc)
                .join(EventEpc, EventEpc.event_id == Event.event_id)
                .where(Event.line_id == line.line_id)
            )
            for step, epc in rows:
                by_step.setdefault(step or "", Counter())[epc] += 1
        return by_step

    def close(self) -> None:
        self.engine.dispose()


@dataclass(frozen=True)
class JournalView:
    """The line journal after a run, as the checks need it."""

    states: dict[str, str]
    reserve: set[str]
    outbox_events: int
    in_flight_rejects: int
    report: str | None
    integrity: str


def read_journal(path: Path, work_order: str = "WO-F") -> JournalView:
    db = sqlite3.connect(path)
    try:
        states = dict(db.execute("SELECT serial, state FROM serials").fetchall())
        reserve = {r[0] for r in db.execute("SELECT serial FROM reserve")}
        outbox = db.execute("SELECT count(*) FROM outbox WHERE topic LIKE '%/events'").fetchone()
        killed = db.execute(
            "SELECT count(*) FROM serials WHERE reason = 'in flight when the agent stopped'"
        ).fetchone()
        report = db.execute(
            "SELECT body FROM reports WHERE work_order = ?", (work_order,)
        ).fetchone()
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()
    return JournalView(
        states=states,
        reserve=reserve,
        outbox_events=int(outbox[0]),
        in_flight_rejects=int(killed[0]),
        report=None if report is None else str(report[0]),
        integrity=str(integrity),
    )


@dataclass(frozen=True)
class Accounting:
    """Journal against server: every unit stored exactly once, every label accounted."""

    commissioned: int
    rejected: int
    lost: int
    duplicates: int
    contradictions: int


def account(journal: JournalView, server: dict[str, Counter[str]]) -> Accounting:
    """Compare the journal's verdicts with the events the server stored."""
    commissioning = server.get("commissioning", Counter())
    decommissioning = server.get("decommissioning", Counter())
    commissioned = {
        codes.unit_epc(GTIN, s) for s, st in journal.states.items() if st == "commissioned"
    }
    rejected = {codes.unit_epc(GTIN, s) for s, st in journal.states.items() if st == "rejected"}
    lost = len(commissioned - set(commissioning)) + len(rejected - set(decommissioning))
    duplicates = sum(n - 1 for n in commissioning.values() if n > 1) + sum(
        n - 1 for n in decommissioning.values() if n > 1
    )
    # A unit both commissioned and decommissioned, or commissioned but not so in the journal.
    contradictions = len(set(commissioning) & set(decommissioning)) + len(
        set(commissioning) - commissioned
    )
    return Accounting(len(commissioned), len(rejected), lost, duplicates, contradictions)


def out_of_order(seqs: list[int | None]) -> int:
    """How many events were stored after an event with a higher ``seq`` of the same line."""
    highest = -1
    late = 0
    for seq in seqs:
        if seq is None:
            continue
        if seq < highest:
            late += 1
        highest = max(highest, seq)
    return late


def wait_stored(server: ServerDb, line: LineSetup, count: int, timeout: float = 60) -> None:
    """Wait until the server holds ``count`` events of ``line``."""
    wait_until(lambda: server.count(line) >= count, f"{count} events stored", timeout)


def wait_closed(line: LineSetup, timeout: float = 300) -> None:
    """Wait until the line has closed its work order (the report is in its journal)."""
    wait_until(lambda: read_journal(line.journal).report is not None, "order closed", timeout)


def settle_accounts(
    journal: JournalView, server: ServerDb, line: LineSetup, timeout: float
) -> Accounting:
    """The accounting once the server has every event of the journal, or at ``timeout``."""
    return settle(
        lambda: account(journal, server.epcs_by_step(line)), lambda r: r.lost == 0, timeout
    )
