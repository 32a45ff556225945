"""The engine against the in-process simulated line (no sockets): verdicts and accounting."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.journal import SerialState
from edge.reports import reconciliation_report, report_json, report_text
from edge.verdicts import Phase
from simulators.line import FOREIGN_CODE, ReadScript, UnitLabelData
from tests.edge.conftest import GTIN, make_order
from tests.edge.simline import SimulatedLine, run_order
from tests.support.waiting import until


def event_kinds(line: SimulatedLine) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for msg in line.messages():
        if msg["kind"] == "event":
            event = msg["event"]
            assert isinstance(event, dict)
            key = f"{event['type']}:{event.get('bizStep')}"
            kinds[key] = kinds.get(key, 0) + 1
    return kinds


async def test_clean_run_commissions_cases_and_reconciles(tmp_path: Path) -> None:
    line = SimulatedLine(tmp_path)
    await run_order(line, make_order(quantity=20, units_per_case=6, pallet=2))
    counts = line.journal.serials.lot_counts("WO-1")
    assert len(counts) == 1
    assert counts[0].commissioned == 20
    assert counts[0].unaccounted == 0
    # 3 full cases + 1 partial; 2 pallets (one full, one partial)
    assert line.engine.counters.cases == 4
    assert line.engine.counters.pallets == 2
    kinds = event_kinds(line)
    assert kinds["ObjectEvent:commissioning"] == 20
    assert sum(v for k, v in kinds.items() if k.startswith("AggregationEvent")) == 6
    report = json.loads(line.journal.work_orders.report("WO-1") or "{}")
    assert report["lots"][0]["allocated"] == counts[0].allocated
    assert line.engine.phase is Phase.IDLE


async def test_bad_reads_reject_units_and_never_stop_the_line(tmp_path: Path) -> None:
    script = ReadScript(miss=0.05, garbage=0.05, foreign=0.05, wrong_product=0.05)
    line = SimulatedLine(tmp_path, script=script)
    line.config = line.config.model_copy()
    await run_order(line, make_order(quantity=60, units_per_case=10))
    counts = line.journal.serials.lot_counts("WO-1")[0]
    assert counts.commissioned == 60
    assert counts.rejected > 0
    assert counts.unaccounted == 0
    assert len(line.reject.fired) == counts.rejected
    reasons = {r.split(":")[0] for _, r in line.reject.fired}
    assert reasons <= {
        "no read within the verify window",
        "unreadable",
        "wrong product",
        "foreign code",
        "wrong code",
        "duplicate",
    }
    # every rejected serial is decommissioned, never commissioned
    rejected = set(line.journal.serials.in_state("WO-1", SerialState.REJECTED))
    commissioned = set(line.journal.serials.in_state("WO-1", SerialState.COMMISSIONED))
    assert not rejected & commissioned
    assert event_kinds(line)["ObjectEvent:decommissioning"] == counts.rejected


async def test_garbage_only_pauses_after_consecutive_rejects(tmp_path: Path) -> None:
    line = SimulatedLine(tmp_path, script=ReadScript(garbage=1.0))
    runner = asyncio.create_task(line.engine.run())
    line.engine.load(make_order(quantity=50))
    line.engine.start()
    for _ in range(200):
        await asyncio.sleep(0.01)
        if line.engine.phase is Phase.PAUSED and line.engine.in_flight == 0:
            break
    assert line.engine.phase is Phase.PAUSED
    assert line.engine.pause_reason == "too many rejects"
    assert any(a.code.value == "too_many_rejects" for a in line.engine.alarms)
    report = await line.engine.close()
    assert report.balanced
    await line.engine.stop()
    await runner


async def test_paper_out_pauses_and_resumes_without_reusing_a_serial(tmp_path: Path) -> None:
    line = SimulatedLine(tmp_path, paper_out_after=7)

    async def refill(line: SimulatedLine) -> None:
        for _ in range(300):
            await asyncio.sleep(0.01)
            if line.engine.phase is Phase.PAUSED:
                break
        assert line.engine.pause_reason == "printer: paper out"
        line.printer.refill()
        assert line.engine.phase is Phase.RUNNING

    await run_order(line, make_order(quantity=15), during=refill)
    counts = line.journal.serials.lot_counts("WO-1")[0]
    assert counts.commissioned == 15
    assert counts.rejected == 1  # the label being sent when the paper ran out
    assert counts.unaccounted == 0
    printed = [label.serial for label in line.printer.printed]
    assert len(printed) == len(set(printed)) == 15


async def test_foreign_and_duplicate_reads(tmp_path: Path) -> None:
    line = SimulatedLine(tmp_path, script=ReadScript(miss=1.0))
    runner = asyncio.create_task(line.engine.run())
    order = make_order(quantity=3)
    line.engine.load(order)
    line.engine.start()

    def sent() -> list[UnitLabelData]:
        return [
            label
            for label in line.printer.printed
            if line.journal.serials.state_of(label.serial) is SerialState.SENT
        ]

    await until(lambda: len(sent()) == 3, "three labels printed, awaiting their reads")
    waiting = [
        label
        for label in line.printer.printed
        if line.journal.serials.state_of(label.serial) is SerialState.SENT
    ]
    assert len(waiting) == 3
    line.read_code(FOREIGN_CODE.data.encode(), FOREIGN_CODE.symbology)
    line.read_code(waiting[1].element_string.encode())  # out of order: matched by value
    line.read_code(waiting[1].element_string.encode())  # the same label seen again
    assert line.journal.serials.state_of(waiting[0].serial) is SerialState.REJECTED
    assert line.journal.serials.state_of(waiting[1].serial) is SerialState.COMMISSIONED
    assert line.journal.serials.state_of(waiting[2].serial) is SerialState.SENT
    assert [v.verdict for v in line.engine.last_reads][:1] == ["re-read"]
    await line.engine.close()
    await line.engine.stop()
    await runner


async def test_void_and_reprint_are_audited(tmp_path: Path) -> None:
    line = SimulatedLine(tmp_path, travel_s=0.02)
    order = make_order(quantity=30, units_per_case=100)

    async def operator(line: SimulatedLine) -> None:
        for _ in range(200):
            await asyncio.sleep(0.005)
            done = line.journal.serials.in_state("WO-1", SerialState.COMMISSIONED)
            if len(done) >= 2:
                break
        line.engine.reprint(done[0], reason="nhãn bị rách", operator="Lan")

    await run_order(line, order, during=operator)
    counts = line.journal.serials.lot_counts("WO-1")[0]
    assert counts.commissioned == 30
    # the reprinted unit, plus the serials allocated ahead but never printed
    assert counts.voided == 1 + counts.allocated - 31
    assert counts.unaccounted == 0
    trail = line.journal.audit.records()
    assert [(a.actor, a.action, a.reason) for a in trail] == [
        ("Lan", "reprint", "nhãn bị rách"),
        ("system", "close", "balanced"),
    ]
    assert trail[1].details["commissioned"] == 30
    assert trail[1].target == "work_order:WO-1"
    assert line.journal.audit.verify() == []
    report = reconciliation_report(line.journal, site="factory-1", line="L1", work_order=order.id)
    assert report_text(report).endswith("BALANCED")
    assert json.loads(report_json(report))["unaccounted"] == 0


async def test_restart_rejects_in_flight_and_voids_unprinted(tmp_path: Path) -> None:
    line = SimulatedLine(tmp_path, script=ReadScript(miss=1.0))
    runner = asyncio.create_task(line.engine.run())
    line.engine.load(make_order(quantity=10))
    line.engine.start()
    await until(lambda: len(line.printer.printed) >= 2, "labels printed before the crash")
    runner.cancel()  # the agent dies; the journal is what survives
    line.journal.close()

    again = SimulatedLine(tmp_path)
    again.engine.recover()
    assert again.engine.phase is Phase.PAUSED
    sent = again.journal.serials.in_state("WO-1", SerialState.SENT, SerialState.ALLOCATED)
    assert sent == []
    rejected = again.journal.serials.in_state("WO-1", SerialState.REJECTED)
    assert len(rejected) == 8  # max_in_flight
    runner = asyncio.create_task(again.engine.run())
    again.engine.start()
    await asyncio.wait_for(again.engine.wait_closed(), 10)
    await again.engine.stop()
    await runner
    counts = again.journal.serials.lot_counts("WO-1")[0]
    assert counts.commissioned == 10
    assert counts.unaccounted == 0
    assert GTIN in again.messages()[0]["event"]["epcList"][0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=60), min_size=1, max_size=12))
async def test_random_bytes_on_the_verify_scanner_never_stop_the_line(reads: list[bytes]) -> None:
    import tempfile

    from edge.scanners.read import ReadStamper

    async def scenario(tmp: Path) -> None:
        line = SimulatedLine(tmp, script=ReadScript(miss=1.0))
        runner = asyncio.create_task(line.engine.run())
        line.engine.load(make_order(quantity=4))
        line.engine.start()
        await asyncio.sleep(0.01)
        stamper = ReadStamper("verify")
        for data in reads:
            line.engine.on_read(stamper.payload(None, data))
            line.engine.on_read(stamper.payload("]d2", data))
        report = await line.engine.close()
        assert report.balanced
        await line.engine.stop()
        await runner
        line.journal.close()

    with tempfile.TemporaryDirectory() as tmp:
        await scenario(Path(tmp))


def _committed_state(path: Path, serial: str) -> str | None:
    """The serial's state as another process would see it: committed rows only."""
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT state FROM serials WHERE serial = ?", (serial,)).fetchone()
    finally:
        conn.close()
    return None if row is None else str(row[0])


async def test_every_label_is_durably_sent_before_it_is_printed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = SimulatedLine(tmp_path)
    states: list[str | None] = []
    print_unit = line.printer.print_unit

    async def checked(label: UnitLabelData) -> None:
        states.append(_committed_state(line.config.outbox.path, label.serial))
        await print_unit(label)

    monkeypatch.setattr(line.printer, "print_unit", checked)
    await run_order(line, make_order(quantity=40))
    assert states == ["sent"] * 40


async def test_a_crash_between_commit_and_print_never_reuses_a_serial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = SimulatedLine(tmp_path)
    crashed = asyncio.Event()
    print_unit = line.printer.print_unit
    printed_before: list[str] = []

    async def dies_on_the_tenth(label: UnitLabelData) -> None:
        if len(printed_before) == 9:
            crashed.set()
            await asyncio.Event().wait()  # the process dies here: this label never prints
        printed_before.append(label.serial)
        await print_unit(label)

    monkeypatch.setattr(line.printer, "print_unit", dies_on_the_tenth)
    runner = asyncio.create_task(line.engine.run())
    line.engine.load(make_order(quantity=30))
    line.engine.start()
    await asyncio.wait_for(crashed.wait(), 10)
    runner.cancel()
    line.journal.close()
    committed = _states(line.config.outbox.path)
    unprinted = {s for s, state in committed.items() if state == "sent"} - set(printed_before)
    assert unprinted  # the batch committed as sent, not (all) printed

    again = SimulatedLine(tmp_path)
    again.engine.recover()
    runner = asyncio.create_task(again.engine.run())
    again.engine.start()
    await asyncio.wait_for(again.engine.wait_closed(), 10)
    await again.engine.stop()
    await runner
    printed_after = [label.serial for label in again.printer.printed]
    assert not unprinted & set(printed_after)
    assert len(set(printed_before + printed_after)) == len(printed_before) + len(printed_after)
    rejected = set(again.journal.serials.in_state("WO-1", SerialState.REJECTED))
    assert unprinted <= rejected
    counts = again.journal.serials.lot_counts("WO-1")[0]
    assert counts.commissioned == 30
    assert counts.unaccounted == 0


def _states(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    try:
        return {str(s): str(st) for s, st in conn.execute("SELECT serial, state FROM serials")}
    finally:
        conn.close()
