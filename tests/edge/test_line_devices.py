"""A full work order through the real printer driver and scanner driver, against the printer
and scanner simulators on real TCP ports, publishing to a real Mosquitto: cases, rejects
(garbage and foreign codes on the verify scanner), a paper-out, and reconciliation."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from edge.codes import UnitLabel
from edge.devices import DriverUnitPrinter, feed_reads, poll_printer, watch_printer
from edge.drivers import open_transport
from edge.engine import LineEngine
from edge.journal import Journal, SerialState
from edge.outbox import OutboxPublisher
from edge.printers.driver import ZplPrinter
from edge.printers.templates import BUILTIN_LABELS, load_template
from edge.reject import RecordingReject
from edge.serials import LocalSerialSource, SerialSupply
from edge.verdicts import Phase
from lineside.contract import Topics
from lineside.mqtt import BrokerEndpoint
from simulators.line import FOREIGN_CODE, SimulatedCasePrinter
from simulators.printers.engines import ZplEngine
from simulators.printers.server import PrinterSimulator
from simulators.scanners.line import TcpScannerSimulator
from tests.edge.conftest import make_config, make_order
from tests.support.broker import Collector, broker_up
from tests.support.waiting import until

LABELS = BUILTIN_LABELS

pytestmark = [
    pytest.mark.mqtt,
    pytest.mark.skipif(not broker_up(), reason="Mosquitto not running on 127.0.0.1:1883"),
]


class Conveyor:
    """Carries each printed label to the verify scanner; every 7th read is garbage or foreign."""

    def __init__(self, printer: DriverUnitPrinter, scanner: TcpScannerSimulator) -> None:
        self._printer = printer
        self._scanner = scanner
        self.count = 0

    async def print_unit(self, label: UnitLabel) -> None:
        await self._printer.print_unit(label)
        self.count += 1
        if self.count % 14 == 0:
            wire = "]Q1%%garbage-\u00e9\u00e8"
        elif self.count % 14 == 7:
            wire = FOREIGN_CODE.transmitted
        else:
            wire = "]d2" + label.element_string
        self._scanner.queue.put_nowait(wire)


async def test_full_order_on_simulated_devices(tmp_path: Path) -> None:
    config = make_config(tmp_path, line="D" + uuid.uuid4().hex[:8])
    journal = Journal.open(config.outbox.path)
    topics = Topics(config.line.site, config.line.line_id)
    collector = Collector(1883, topics.events)
    publisher = OutboxPublisher(config.outbox.path, BrokerEndpoint("127.0.0.1", 1883), topics.line)
    zpl = ZplEngine(ips=200, render_images=False)
    zpl.faults.paper_out_after = 25
    tasks: list[asyncio.Task[None]] = []
    async with PrinterSimulator(zpl) as printer_sim, TcpScannerSimulator() as scanner_sim:
        driver = ZplPrinter(
            open_transport(f"tcp://127.0.0.1:{printer_sim.port}"),
            load_template(LABELS / "unit-60x40.zpl"),  # type: ignore[arg-type]
        )
        await driver.transport.open()
        conveyor = Conveyor(DriverUnitPrinter(driver, resolver="https://id.gs1.org"), scanner_sim)
        supply = SerialSupply(journal, [LocalSerialSource()], low_water=16, block=64)
        engine = LineEngine(
            config,
            journal,
            printer=conveyor,
            reject=RecordingReject(),
            supply=supply,
            case_printer=SimulatedCasePrinter(),
            on_commit=publisher.wake,
        )
        watch_printer(driver, engine.on_printer_status)
        scanner_device = config.model_validate(
            {
                **config.model_dump(),
                "devices": [
                    {
                        "kind": "scanner",
                        "id": "verify",
                        "role": "verify_scanner",
                        "url": scanner_sim.url,
                    }
                ],
            }
        ).devices[0]
        try:
            publisher.start()
            tasks += [
                asyncio.create_task(scanner_sim.run_queue()),
                asyncio.create_task(feed_reads(scanner_device, engine.on_read)),  # type: ignore[arg-type]
                asyncio.create_task(
                    poll_printer(driver, lambda: engine.phase is Phase.PAUSED, interval=0.1)
                ),
                asyncio.create_task(engine.run()),
            ]
            engine.load(make_order(quantity=40, units_per_case=6))
            await scanner_sim.wait_for_client(timeout=10)  # the scanner driver connects
            engine.start()
            await until(lambda: engine.phase is Phase.PAUSED, "the line paused on paper out")
            assert engine.pause_reason.startswith("printer:")
            assert "paper_out" in engine.pause_reason
            zpl.faults.paper_out = False  # the operator loads a new roll
            await asyncio.wait_for(engine.wait_closed(), 30)
            await engine.stop()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5)
            await driver.transport.close()
            publisher.stop(flush_timeout=0 if engine.phase is not Phase.IDLE else 5)
    counts = journal.serials.lot_counts("WO-1")[0]
    assert counts.commissioned == 40
    assert counts.rejected >= 4  # garbage and foreign reads
    assert counts.unaccounted == 0
    assert engine.counters.cases == 7
    serials = journal.serials.in_state("WO-1", SerialState.COMMISSIONED, SerialState.REJECTED)
    printed_raw = b"".join(label.raw for label in zpl.printed)
    # every commissioned serial was really printed by the simulator, once
    for serial in journal.serials.in_state("WO-1", SerialState.COMMISSIONED):
        assert printed_raw.count(serial.encode()) >= 1
    assert len(serials) == len(set(serials))
    journal_pending = journal.outbox.pending()
    ok = collector.wait_for(
        lambda ms: sum(m["event"].get("bizStep") == "commissioning" for m in ms) >= 40, 20
    )
    collector.close()
    journal.close()
    assert ok, (len(collector.messages()), journal_pending)
