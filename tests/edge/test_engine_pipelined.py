"""The engine with a printer that takes several labels before confirming them.

The reads reach the engine before the printer's confirmations (the labels come out of
the printer, travel to the scanner and are read while the printer's answer is still on its
way): each unit is still commissioned only once its label is confirmed, and a fault with
labels in the printer's buffer rejects every one of them and pauses the line.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.codes import UnitLabel
from edge.engine import LineEngine, PipelinedUnitPrinter
from edge.journal import Journal, SerialState
from edge.line_devices import PushReader
from edge.reject import RecordingReject
from edge.scanners.read import ScanRead
from edge.serials import LocalSerialSource, SerialSupply
from edge.verdicts import Phase
from lineside.contract import AlarmCode
from lineside.errors import PrinterFault
from simulators.line import Conveyor, ReadScript
from tests.edge.conftest import make_config, make_order
from tests.support.waiting import until


class _Confirmation:
    def __init__(self, printer: BufferedPrinter, serial: str, prints: bool) -> None:
        self.printer = printer
        self.serial = serial
        self.prints = prints

    async def confirmed(self) -> None:
        await asyncio.sleep(0.01)  # the read (2 ms down the belt) comes first
        if not self.prints:
            raise PrinterFault("printer reports paper_out")
        self.printer.confirmed.append(self.serial)


class BufferedPrinter:
    """Takes labels into a buffer; the paper runs out after ``paper`` labels, and the
    labels then in the buffer are never printed."""

    def __init__(self, conveyor: Conveyor, paper: int) -> None:
        self.conveyor = conveyor
        self.paper = paper
        self.sent: list[str] = []
        self.confirmed: list[str] = []

    async def print_unit(self, label: UnitLabel) -> None:
        raise AssertionError("a pipelining printer is sent its labels with send_unit")

    async def send_unit(self, label: UnitLabel) -> _Confirmation:
        self.sent.append(label.serial)
        prints = self.paper > 0
        if prints:
            self.paper -= 1
            self.conveyor.carry(label)
        return _Confirmation(self, label.serial, prints)


async def test_reads_before_confirmations_and_a_fault_mid_pipeline(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    journal = Journal.open(config.outbox.path)
    engines: list[LineEngine] = []

    def deliver(read: ScanRead) -> None:
        engines[0].on_read(read)

    reader = PushReader("verify-sim", deliver=deliver)
    conveyor = Conveyor.in_process(reader.transmit, ReadScript(travel_s=0.002, seed=3))
    printer = BufferedPrinter(conveyor, paper=6)
    assert isinstance(printer, PipelinedUnitPrinter)
    engine = LineEngine(
        config,
        journal,
        printer=printer,
        reject=RecordingReject(),
        supply=SerialSupply(journal, [LocalSerialSource()], low_water=16, block=64),
    )
    engines.append(engine)
    runner = asyncio.create_task(engine.run())
    order = make_order(quantity=12, units_per_case=4)
    engine.load(order)
    engine.start()
    try:
        await until(lambda: engine.phase is Phase.PAUSED, "paused by the fault", timeout=10)
        await until(lambda: engine.in_flight == 0, "verdicts of the units in flight", timeout=10)
        assert engine.pause_reason.startswith("printer")
        # Every unit read before its confirmation was commissioned once confirmed...
        assert engine.counters.printed == len(printer.confirmed) == 6
        assert engine.counters.commissioned == 6
        # ...and the labels in the buffer when the paper ran out were rejected, not counted.
        failed = [s for s in printer.sent if s not in printer.confirmed]
        assert failed
        for serial in failed:
            assert journal.serials.state_of(serial) is SerialState.REJECTED
        printer.paper = 100
        engine.on_printer_status(None, AlarmCode.PAPER_OUT)
        await asyncio.wait_for(engine.wait_closed(), 20)
    finally:
        await engine.stop()
        await asyncio.wait_for(runner, 5)
    assert engine.counters.commissioned == 12
    assert len(printer.sent) == len(set(printer.sent))  # no serial reused
    counts = journal.serials.lot_counts(order.id)[0]
    assert counts.commissioned == 12
    # Rejected: the labels the printer failed, and the serials of the batch committed
    # while they were being confirmed, never sent to the printer.
    rejected = set(journal.serials.in_state(order.id, SerialState.REJECTED))
    assert counts.rejected == len(rejected)
    assert set(failed) <= rejected
    assert not (rejected - set(failed)) & set(printer.sent)
    assert counts.unaccounted == 0
    journal.close()
