"""A line engine wired to the in-process simulated line (no sockets), for engine tests::

line = SimulatedLine(tmp_path, script=ReadScript(miss=0.05))
await run_order(line, make_order(quantity=20))
assert line.journal.serials.lot_counts("WO-1")[0].unaccounted == 0
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from edge.cases import CasePrinter, CaseVerifier
from edge.engine import LineEngine
from edge.journal import Journal
from edge.line_devices import PushReader
from edge.reject import RecordingReject
from edge.scanners.read import ScanRead
from edge.serials import LocalSerialSource, SerialSupply
from lineside.contract import WorkOrder
from simulators.line import Conveyor, ReadScript, SimulatedCasePrinter, SimulatedUnitPrinter
from tests.edge.conftest import make_config


class SimulatedLine:
    """Unit printer, conveyor to a verify reader, reject gate and case printer around one
    engine (the in-process mode of :mod:`simulators.line`)."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        script: ReadScript | None = None,
        paper_out_after: int | None = None,
        travel_s: float = 0.002,
        print_s: float = 0.0,
        case_printer: CasePrinter | None = None,
        case_verifier: CaseVerifier | None = None,
    ) -> None:
        self.config = make_config(tmp_path)
        self.journal = Journal.open(self.config.outbox.path)
        self.reject = RecordingReject()
        self.reader = PushReader("verify-sim", deliver=self.on_read)
        script = replace(script or ReadScript(), travel_s=travel_s, seed=7)
        self.conveyor = Conveyor.in_process(self.reader.transmit, script)
        self.printer = SimulatedUnitPrinter(
            self.conveyor.carry, print_s=print_s, paper_out_after=paper_out_after
        )
        supply = SerialSupply(self.journal, [LocalSerialSource()], low_water=16, block=64)
        self.engine = LineEngine(
            self.config,
            self.journal,
            printer=self.printer,
            reject=self.reject,
            supply=supply,
            case_printer=case_printer or SimulatedCasePrinter(),
            case_verifier=case_verifier,
        )
        self.printer.watch(self.engine.on_printer_status)

    def on_read(self, read: ScanRead) -> None:
        self.engine.on_read(read)

    def read_code(self, data: bytes, symbology: str | None = "]d2") -> None:
        """The verify reader reads ``data`` now, whatever is on the conveyor."""
        self.reader.transmit(symbology, data)

    def messages(self) -> list[dict[str, Any]]:
        """Every message in the outbox, oldest first."""
        rows = self.journal.connection.execute("SELECT payload FROM outbox ORDER BY seq").fetchall()
        return [json.loads(r[0]) for r in rows]

    def events(self) -> list[dict[str, Any]]:
        """The EPCIS events in the outbox, oldest first."""
        return [m["event"] for m in self.messages() if m["kind"] == "event"]

    def packed(self) -> dict[str, list[str]]:
        """The SSCC of each packed case → the unit EPCs packed into it."""
        return {
            str(e["parentID"]).rsplit("/", 1)[1]: list(e["childEPCs"])
            for e in self.events()
            if e.get("bizStep") == "packing"
        }


async def run_order(
    line: SimulatedLine,
    order: WorkOrder,
    during: Callable[[SimulatedLine], Awaitable[None]] | None = None,
) -> None:
    """Load ``order``, start, run ``during`` alongside, and wait until the order closes."""
    runner = asyncio.create_task(line.engine.run())
    line.engine.load(order)
    line.engine.start()
    if during is not None:
        await during(line)
    await asyncio.wait_for(line.engine.wait_closed(), 20)
    await line.engine.stop()
    await asyncio.wait_for(runner, 5)
