"""Engine robustness: a journal that cannot be written, a scanner that drops or goes
silent, a broker out of reach."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from edge.codes import UnitLabel
from edge.engine import LineEngine
from edge.journal import Journal, JournalWriteError, is_write_failure
from edge.line_devices import PushReader
from edge.outbox import OutboxPublisher
from edge.reject import RecordingReject
from edge.scanners.read import ScanRead
from edge.serials import LocalSerialSource, SerialSupply
from edge.verdicts import EngineError, Phase
from lineside.contract import LineState
from lineside.mqtt import BrokerEndpoint
from simulators.line import Conveyor, ReadScript, SimulatedCasePrinter
from tests.edge.conftest import make_config, make_order
from tests.support.broker import free_port
from tests.support.waiting import until


class RecordingPrinter:
    """Prints instantly onto the simulated conveyor and remembers every serial printed."""

    def __init__(self, conveyor: Conveyor) -> None:
        self.conveyor = conveyor
        self.serials: list[str] = []

    async def print_unit(self, label: UnitLabel) -> None:
        self.serials.append(label.serial)
        self.conveyor.carry(label)
        await asyncio.sleep(0)


class Line:
    def __init__(
        self,
        tmp_path: Path,
        *,
        script: ReadScript | None = None,
        silent_after: int = 5,
        max_rejects: int = 4,
    ) -> None:
        config = make_config(tmp_path)
        policy = config.policy.model_copy(
            update={
                "scanner_silent_after": silent_after,
                "max_consecutive_rejects": max_rejects,
                "broker_alarm_after_s": 30.0,
            }
        )
        self.config = config.model_copy(update={"policy": policy})
        self.journal = Journal.open(self.config.outbox.path)
        self.reader = PushReader("verify-sim", deliver=self.on_read)
        script = replace(script or ReadScript(), travel_s=0.002, seed=3)
        self.printer = RecordingPrinter(Conveyor.in_process(self.reader.transmit, script))
        self.failures: list[str] = []
        self.engine = self.make_engine(self.journal)

    def on_read(self, read: ScanRead) -> None:
        self.engine.on_read(read)

    def make_engine(self, journal: Journal) -> LineEngine:
        supply = SerialSupply(journal, [LocalSerialSource()], low_water=16, block=64)
        return LineEngine(
            self.config,
            journal,
            printer=self.printer,
            reject=RecordingReject(),
            supply=supply,
            case_printer=SimulatedCasePrinter(),
            on_failure=self.failures.append,
        )

    def alarms(self) -> list[dict[str, object]]:
        rows = self.journal.connection.execute(
            "SELECT payload FROM outbox WHERE topic LIKE '%/alarms' ORDER BY seq"
        ).fetchall()
        return [json.loads(r[0]) for r in rows]


def phase(engine: LineEngine) -> Phase:
    """The engine's phase, read afresh (each call may see a change)."""
    return engine.phase


def durable_states(path: Path) -> dict[str, str]:
    """Serial states as another connection sees them: only what was committed."""
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT serial, state FROM serials").fetchall())
    finally:
        db.close()


# -- a journal that cannot be written ------------------------------------------------------


def test_write_failures_are_told_apart_from_bugs() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13
    ioerr = sqlite3.OperationalError("disk I/O error")
    ioerr.sqlite_errorcode = 10 | (4 << 8)  # SQLITE_IOERR_READ
    constraint = sqlite3.IntegrityError("UNIQUE constraint failed")
    constraint.sqlite_errorcode = 2067
    assert is_write_failure(full)
    assert is_write_failure(ioerr)
    assert is_write_failure(JournalWriteError("x"))
    assert not is_write_failure(constraint)
    assert not is_write_failure(ValueError("database or disk is full"))


async def test_full_disk_stops_the_line_and_nothing_printed_is_unjournalled(
    tmp_path: Path,
) -> None:
    line = Line(tmp_path, script=ReadScript(miss=0.1), max_rejects=1000)
    engine = line.engine
    runner = asyncio.create_task(engine.run())
    engine.load(make_order(quantity=100_000, units_per_case=12))
    engine.start()
    await until(lambda: engine.counters.commissioned >= 30, "production")
    # The disk fills up: SQLite refuses to grow the database past this many pages.
    pages = line.journal.connection.execute("PRAGMA page_count").fetchone()[0]
    line.journal.connection.execute(f"PRAGMA max_page_count = {pages + 3}")
    await asyncio.wait_for(runner, 10)  # run() ends by itself
    assert engine.failure is not None
    assert "database or disk is full" in engine.failure
    assert line.failures == [engine.failure]
    assert engine.status().state is LineState.STOPPING
    printed = len(line.printer.serials)
    with pytest.raises(EngineError, match="cannot be written"):
        engine.start()
    engine.on_read(object())  # type: ignore[arg-type]  # ignored once failed
    await asyncio.sleep(0.05)
    assert len(line.printer.serials) == printed  # nothing printed after the failure
    # Every label printed had its serial durably "sent" (or a verdict) before it printed.
    committed = durable_states(line.config.outbox.path)
    assert all(committed.get(s) not in (None, "allocated") for s in line.printer.serials)
    line.journal.abandon()
    line.journal.close()

    # The restart (space back: a fresh connection has no page limit) recovers everything.
    journal = Journal.open(line.config.outbox.path)
    again = line.make_engine(journal)
    again.recover()
    assert again.phase is Phase.PAUSED
    states = durable_states(line.config.outbox.path)
    assert set(states.values()) <= {"commissioned", "rejected", "voided"}
    assert all(states[s] in ("commissioned", "rejected") for s in line.printer.serials)
    assert len(set(line.printer.serials)) == len(line.printer.serials)
    assert journal.connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    journal.close()


# -- the verify scanner --------------------------------------------------------------------


async def test_scanner_offline_pauses_then_resumes_with_the_alarm_cleared(
    tmp_path: Path,
) -> None:
    line = Line(tmp_path)
    engine = line.engine
    runner = asyncio.create_task(engine.run())
    engine.load(make_order(quantity=200, units_per_case=10))
    engine.start()
    await until(lambda: engine.counters.commissioned >= 10, "production")
    engine.on_scanner_status(False, "connection reset by peer")
    assert engine.phase is Phase.PAUSED
    assert engine.pause_reason == "verify scanner offline"
    await until(lambda: engine.in_flight == 0, "units in flight get verdicts")
    printed = len(line.printer.serials)
    with pytest.raises(EngineError, match="verify scanner offline"):
        engine.start()
    engine.on_scanner_status(False, "still down")  # no second alarm
    await asyncio.sleep(0.05)
    assert len(line.printer.serials) == printed  # nothing printed that cannot be verified
    engine.on_scanner_status(True, "")
    assert phase(engine) is Phase.RUNNING
    await asyncio.wait_for(engine.wait_closed(), 20)
    await engine.stop()
    await asyncio.wait_for(runner, 5)
    offline = [a for a in line.alarms() if a["code"] == "scanner_offline"]
    assert [a["cleared"] for a in offline] == [False, True]
    assert "connection reset by peer" in str(offline[0]["message"])
    counts = line.journal.serials.lot_counts("WO-1")[0]
    assert counts.commissioned == 200
    assert counts.unaccounted == 0


async def test_printer_fault_and_scanner_offline_resume_only_when_both_clear(
    tmp_path: Path,
) -> None:
    line = Line(tmp_path)
    engine = line.engine
    runner = asyncio.create_task(engine.run())
    engine.load(make_order(quantity=50, units_per_case=10))
    engine.start()
    engine.on_scanner_status(False, "unplugged")
    engine.on_printer_status("paper out")
    engine.on_scanner_status(True, "")
    assert engine.phase is Phase.PAUSED  # the printer is still out of paper
    assert engine.pause_reason.startswith("printer")
    engine.on_scanner_status(False, "unplugged again")
    engine.on_printer_status(None)
    assert engine.phase is Phase.PAUSED  # now the scanner is missing
    assert engine.pause_reason == "verify scanner offline"
    engine.on_scanner_status(True, "")
    assert phase(engine) is Phase.RUNNING
    await asyncio.wait_for(engine.wait_closed(), 20)
    await engine.stop()
    await asyncio.wait_for(runner, 5)


async def test_silent_scanner_raises_scanner_silent_before_too_many_rejects(
    tmp_path: Path,
) -> None:
    line = Line(tmp_path, script=ReadScript(miss=1.0), silent_after=3, max_rejects=6)
    engine = line.engine
    runner = asyncio.create_task(engine.run())
    engine.load(make_order(quantity=50))
    engine.start()
    await until(lambda: engine.phase is Phase.PAUSED and engine.in_flight == 0, "paused")
    codes = [a["code"] for a in line.alarms()]
    assert codes.index("scanner_silent") < codes.index("too_many_rejects")
    assert codes.count("scanner_silent") == 1
    # A read (even an unreadable one) shows the scanner is alive again: the alarm clears.
    line.reader.transmit(None, b"\x00garbage")
    silent = [a for a in line.alarms() if a["code"] == "scanner_silent"]
    assert [a["cleared"] for a in silent] == [False, True]
    await engine.stop()
    await asyncio.wait_for(runner, 5)


# -- the broker ----------------------------------------------------------------------------


async def test_broker_unreachable_warns_keeps_running_and_clears(tmp_path: Path) -> None:
    line = Line(tmp_path)
    engine = line.engine
    runner = asyncio.create_task(engine.run())
    engine.load(make_order(quantity=100, units_per_case=10))
    engine.start()
    engine.on_broker(12.0)
    assert not any(a.code.value == "broker_unreachable" for a in engine.alarms)
    engine.on_broker(31.0)
    engine.on_broker(45.0)
    assert [a.code.value for a in engine.alarms].count("broker_unreachable") == 1
    assert engine.alarms[0].severity.value == "warning"
    assert engine.phase is Phase.RUNNING  # the outbox holds the events meanwhile
    engine.on_broker(0.0)
    assert engine.alarms[0].cleared
    await asyncio.wait_for(engine.wait_closed(), 20)
    await engine.stop()
    await asyncio.wait_for(runner, 5)
    broker = [a for a in line.alarms() if a["code"] == "broker_unreachable"]
    assert [a["cleared"] for a in broker] == [False, True]


def test_publisher_counts_how_long_the_broker_is_unreachable(tmp_path: Path) -> None:
    Journal.open(tmp_path / "line.db").close()
    endpoint = BrokerEndpoint(host="127.0.0.1", port=free_port())
    publisher = OutboxPublisher(tmp_path / "line.db", endpoint, "unreachable-test")
    publisher.start()
    try:
        first = publisher.unreachable_for()
        assert publisher.wait_connected(0.3) is False
        assert publisher.unreachable_for() > first >= 0.0
    finally:
        publisher.stop(flush_timeout=0.0)


def test_journal_abandon_rolls_back_a_held_group(tmp_path: Path) -> None:
    journal = Journal.open(tmp_path / "line.db")
    journal.serials.add_to_reserve(["S1", "S2"], source="test")
    journal.hold()
    journal.serials.allocate(2, work_order="WO-1", gtin="08934567890014", lot="L")
    journal.abandon()
    assert journal.flush() is False
    assert durable_states(tmp_path / "line.db") == {}
    assert journal.serials.state_of("S1") is None
    assert journal.serials.reserve_size() == 2
    journal.close()
