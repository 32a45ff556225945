"""Scenario 4: device faults through the real drivers.

The engine drives the real ``ZplPrinter`` over TCP to the printer simulator and reads the
real TCP scanner driver connected to the scanner simulator; a conveyor carries each label the
printer simulator printed to the scanner simulator. Each fault strikes mid-order: the line
must pause with the right alarm, resume when the fault clears, and afterwards every label the
printer simulator printed carries a serial that is commissioned or rejected exactly once —
none printed twice, none skipped.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge import codes
from edge.codes import UnitLabel
from edge.config import LineConfig, ScannerDevice
from edge.devices import DriverUnitPrinter, feed_events, poll_printer, watch_printer
from edge.drivers import open_transport
from edge.engine import LineEngine
from edge.journal import Journal
from edge.printers.driver import ZplPrinter
from edge.printers.templates import BUILTIN_LABELS, ZplTemplate, load_template
from edge.reject import RecordingReject
from edge.serials import LocalSerialSource, SerialSupply
from edge.verdicts import Phase
from lineside.contract import AlarmCode
from simulators.line import SimulatedCasePrinter
from simulators.printers.engines import ZplEngine
from simulators.printers.server import PrinterSimulator
from simulators.scanners.line import TcpScannerSimulator
from tests.edge.conftest import GTIN, make_config, make_order
from tests.faults.conftest import Record
from tests.support.waiting import until

# Safety nets against hangs, sized for a loaded machine; never speed assertions.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

LABELS = BUILTIN_LABELS
UNITS = 60
FAULT_AT = 20  # labels printed before the fault strikes


class Conveyor:
    """Prints through the driver; each label the simulator printed reaches the scanner.

    ``mode`` says what the scanner makes of it: ``read`` (the label's code), ``garbage``
    or ``silent`` (nothing at all).
    """

    def __init__(self, printer: DriverUnitPrinter, scanner: TcpScannerSimulator) -> None:
        self._printer = printer
        self._scanner = scanner
        self.mode = "read"
        self.printed = 0
        self.engine: LineEngine | None = None
        #: Labels sent to the printer while the line was paused (must stay 0).
        self.started_while_paused = 0

    async def print_unit(self, label: UnitLabel) -> None:
        if self.engine is not None and self.engine.phase is not Phase.RUNNING:
            self.started_while_paused += 1
        await self._printer.print_unit(label)
        self.printed += 1
        if self.mode == "read":
            self._scanner.queue.put_nowait("]d2" + label.element_string)
        elif self.mode == "garbage":
            self._scanner.queue.put_nowait("]Q1%%garbage\u00e9")


@dataclass
class Rig:
    config: LineConfig
    journal: Journal
    engine: LineEngine
    zpl: ZplEngine
    printer_sim: PrinterSimulator
    scanner_sim: TcpScannerSimulator
    conveyor: Conveyor

    def alarms(self) -> list[dict[str, object]]:
        rows = self.journal.connection.execute(
            "SELECT payload FROM outbox WHERE topic LIKE '%/alarms' ORDER BY seq"
        ).fetchall()
        return [json.loads(r[0]) for r in rows]


async def run_with_fault(
    tmp_path: Path,
    inject: Callable[[Rig], Awaitable[None] | None],
    clear: Callable[[Rig], Awaitable[None] | None],
) -> tuple[Rig, dict[str, object]]:
    """Run a work order of ``UNITS``; inject the fault after ``FAULT_AT`` labels, wait for
    the pause, clear it, wait for the order to close. Returns the rig and some figures."""
    config = make_config(tmp_path, line="F" + uuid.uuid4().hex[:8])
    policy = config.policy.model_copy(
        update={"max_consecutive_rejects": 5, "scanner_silent_after": 3}
    )
    timing = config.timing.model_copy(update={"verify_window_ms": 1500, "max_in_flight": 4})
    config = config.model_copy(update={"policy": policy, "timing": timing})
    journal = Journal.open(config.outbox.path)
    zpl = ZplEngine(ips=400, render_images=False)
    tasks: list[asyncio.Task[None]] = []
    figures: dict[str, object] = {}
    async with PrinterSimulator(zpl) as printer_sim, TcpScannerSimulator() as scanner_sim:
        template = load_template(LABELS / "unit-60x40.zpl")
        assert isinstance(template, ZplTemplate)
        driver = ZplPrinter(open_transport(f"tcp://127.0.0.1:{printer_sim.port}"), template)
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
        )
        watch_printer(driver, engine.on_printer_status)
        conveyor.engine = engine
        device = ScannerDevice(
            kind="scanner", id="verify", role="verify_scanner", url=scanner_sim.url
        )
        rig = Rig(config, journal, engine, zpl, printer_sim, scanner_sim, conveyor)

        # A pause can be short (the printer link is re-opened within one poll), so record
        # every pause as the engine reports it rather than hoping to observe the phase in
        # between: the engine tells its listeners after every change.
        pauses: list[str] = []
        last = [(engine.phase, engine.pause_reason)]

        def record_pauses() -> None:
            state = (engine.phase, engine.pause_reason)
            if state != last[-1]:
                last.append(state)
                if engine.phase is Phase.PAUSED:
                    pauses.append(engine.pause_reason)

        engine.subscribe(record_pauses)

        def printer_paused() -> bool:
            return engine.phase is Phase.PAUSED and engine.pause_reason.startswith("printer")

        try:
            tasks += [
                asyncio.create_task(scanner_sim.run_queue()),
                asyncio.create_task(feed_events(device, engine.on_read, engine.on_scanner_status)),
                asyncio.create_task(
                    poll_printer(
                        driver,
                        printer_paused,
                        interval=0.1,
                        ready=lambda: engine.on_printer_status(None),
                    )
                ),
                asyncio.create_task(engine.run()),
            ]
            await scanner_sim.wait_for_client()
            engine.load(make_order(quantity=UNITS, units_per_case=6))
            engine.start()
            await until(lambda: conveyor.printed >= FAULT_AT, "labels printed before the fault")
            injected = inject(rig)
            if injected is not None:
                await injected
            await until(lambda: bool(pauses), "line paused by the fault")
            figures["paused_because"] = pauses[0]
            figures["commissioned_at_pause"] = engine.counters.commissioned
            await until(lambda: engine.in_flight == 0, "units in flight got verdicts")
            cleared = clear(rig)
            if cleared is not None:
                await cleared
            await until(lambda: engine.phase is not Phase.PAUSED, "line resumed")
            await asyncio.wait_for(engine.wait_closed(), 60)
            await engine.stop()
            figures["printed_while_paused"] = conveyor.started_while_paused
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5)
            await driver.transport.close()
    return rig, figures


def check_accounts(rig: Rig) -> dict[str, int]:
    """Printed labels against the journal: each printed serial has exactly one verdict."""
    db = rig.journal.connection
    states = dict(db.execute("SELECT serial, state FROM serials").fetchall())
    printed: list[str] = []
    for label in rig.zpl.printed:
        found = [s for s in states if s.encode() in label.raw]
        assert len(found) == 1, f"a printed label carries {len(found)} known serials"
        printed.extend(found)
    doubled = [s for s, n in Counter(printed).items() if n > 1]
    assert not doubled, f"serials printed twice: {doubled}"
    verdicts: Counter[str] = Counter()
    for (payload,) in db.execute("SELECT payload FROM outbox WHERE topic LIKE '%/events'"):
        event = json.loads(payload)["event"]
        if event.get("bizStep") in ("commissioning", "decommissioning"):
            verdicts.update(event.get("epcList", []))
    for serial in printed:
        assert states[serial] in ("commissioned", "rejected"), (serial, states[serial])
        epc = codes.unit_epc(GTIN, serial)
        assert verdicts[epc] == 1, f"serial {serial}: {verdicts[epc]} verdict events"
    # Nothing skipped: every serial the journal took has a final state.
    assert set(states.values()) <= {"commissioned", "rejected", "voided"}
    counts = rig.journal.serials.lot_counts("WO-1")[0]
    assert counts.commissioned == UNITS
    assert counts.unaccounted == 0
    return {
        "printed": len(printed),
        "commissioned": counts.commissioned,
        "rejected": counts.rejected,
        "voided": counts.voided,
        "unaccounted": counts.unaccounted,
        "printed_twice": len(doubled),
    }


def alarm_codes(rig: Rig) -> list[tuple[str, bool]]:
    return [(str(a["code"]), bool(a["cleared"])) for a in rig.alarms()]


async def _garbage_for_a_while(rig: Rig) -> None:
    rig.conveyor.mode = "garbage"


async def _reads_again(rig: Rig) -> None:
    rig.conveyor.mode = "read"
    rig.engine.start(operator="test")  # a safety stop: the operator resumes (audited)


async def _silence(rig: Rig) -> None:
    rig.conveyor.mode = "silent"


def _set(name: str, value: bool) -> Callable[[Rig], None]:
    def apply(rig: Rig) -> None:
        setattr(rig.zpl.faults, name, value)

    return apply


def _unplug_scanner(rig: Rig) -> None:
    # The reader reboots: its connections reset and it refuses new ones for a while.
    rig.scanner_sim.drop_clients()


@pytest.mark.parametrize(
    ("fault", "inject", "clear", "code", "reason"),
    [
        (
            "paper_out",
            _set("paper_out", True),
            _set("paper_out", False),
            AlarmCode.PAPER_OUT,
            "printer",
        ),
        (
            "head_open",
            _set("head_open", True),
            _set("head_open", False),
            AlarmCode.HEAD_OPEN,
            "printer",
        ),
        (
            "disconnect_mid_label",
            _set("disconnect_mid_label", True),
            lambda rig: None,
            AlarmCode.PRINTER_OFFLINE,
            "printer",
        ),
        (
            "scanner_reset",
            _unplug_scanner,
            lambda rig: None,
            AlarmCode.SCANNER_OFFLINE,
            "verify scanner",
        ),
        (
            "garbage_reads",
            _garbage_for_a_while,
            _reads_again,
            AlarmCode.TOO_MANY_REJECTS,
            "too many",
        ),
        ("scanner_silence", _silence, _reads_again, AlarmCode.SCANNER_SILENT, "too many"),
    ],
)
async def test_device_fault_pauses_resumes_and_accounts_for_every_label(
    tmp_path: Path,
    fault_report: Record,
    fault: str,
    inject: Callable[[Rig], Awaitable[None] | None],
    clear: Callable[[Rig], Awaitable[None] | None],
    code: AlarmCode,
    reason: str,
) -> None:
    result: dict[str, object] = {}

    async def scenario() -> None:
        rig, figures = await run_with_fault(tmp_path, inject, clear)
        result.update(figures)
        result["alarms"] = alarm_codes(rig)
        result.update(check_accounts(rig))
        rig.journal.close()

    await scenario()
    alarms = result["alarms"]
    assert isinstance(alarms, list)
    fault_report(
        f"4_device_{fault}",
        alarms=sorted({f"{c}{' cleared' if cl else ''}" for c, cl in alarms}),
        **{k: v for k, v in result.items() if k != "alarms"},
    )
    assert (code.value, False) in alarms
    assert str(result["paused_because"]).startswith(reason)
    assert result["printed_while_paused"] == 0
