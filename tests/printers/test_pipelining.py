"""Labels pipelined in the printer's buffer: each is still confirmed, in order, and a
fault with labels in the buffer fails every one of them and cancels the buffer."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from edge.drivers import Transport, open_transport
from edge.printers.driver import ZplPrinter
from edge.printers.label_data import LabelData
from edge.printers.templates import ZplTemplate
from lineside.errors import PrinterFault, TransportError
from simulators.printers import PrinterSimulator, ZplEngine
from tests.support.waiting import until

#: A label takes 0.3 s to print: long enough to send the next ones meanwhile.
SLOW_IPS = 320 / 203 / 0.3


SERIALS = [f"PL{index:04d}" for index in range(10)]


def _units(count: int) -> list[LabelData]:
    return [
        LabelData(
            product_name="Chè Shan tuyết",
            gtin="8934567890120",
            lot="L2611",
            serial=f"PL{index:04d}",
            expiry=date(2027, 6, 30),
        )
        for index in range(count)
    ]


def _serials(engine: ZplEngine) -> list[str]:
    """The serial each printed label carries, in print order."""
    out = []
    for label in engine.printed:
        found = {s for s in SERIALS if any(s in field for field in label.fields)}
        assert len(found) == 1, f"label {label.index} carries serials {found}"
        out.append(found.pop())
    return out


def _in_printer(engine: ZplEngine) -> int:
    status = engine.status()
    return status.formats_in_buffer + status.labels_remaining


def _printer(link: Transport, labels_dir: Path, max_in_flight: int = 4) -> ZplPrinter:
    template = ZplTemplate.load(labels_dir / "unit-60x40.zpl")
    return ZplPrinter(link, template, max_in_flight=max_in_flight, poll_interval=0.005)


async def test_pipelined_labels_are_each_confirmed_once_printed(labels_dir: Path) -> None:
    engine = ZplEngine(ips=SLOW_IPS, render_images=False)
    units = _units(3)
    async with (
        PrinterSimulator(engine, port=0) as sim,
        open_transport(f"tcp://127.0.0.1:{sim.port}") as link,
    ):
        printer = _printer(link, labels_dir)
        pending = [await printer.submit(unit) for unit in units]
        # All three are in the printer before the first has printed.
        assert not pending[0].settled
        await until(lambda: _in_printer(engine) == 3, "three labels in the printer", 0.25)
        for index, label in enumerate(pending, start=1):
            receipt = await label.confirmed()
            assert receipt.confirmed
            assert receipt.sequence == index
            assert len(engine.printed) >= index  # never confirmed before it printed
    assert _serials(engine) == ["PL0000", "PL0001", "PL0002"]


async def test_never_more_than_max_in_flight_unconfirmed(labels_dir: Path) -> None:
    engine = ZplEngine(ips=SLOW_IPS * 3, render_images=False)
    seen: list[int] = []
    async with (
        PrinterSimulator(engine, port=0) as sim,
        open_transport(f"tcp://127.0.0.1:{sim.port}") as link,
    ):
        printer = _printer(link, labels_dir, max_in_flight=2)
        pending = []
        for unit in _units(5):
            pending.append(await printer.submit(unit))
            status = engine.status()
            seen.append(status.formats_in_buffer + status.labels_remaining)
        for label in pending:
            await label.confirmed()
    assert max(seen) <= 2
    assert len(engine.printed) == 5


async def test_a_fault_mid_pipeline_fails_the_labels_in_the_buffer_and_cancels_them(
    labels_dir: Path,
) -> None:
    engine = ZplEngine(ips=SLOW_IPS, render_images=False)
    engine.faults.paper_out_after = 1
    units = _units(4)
    async with (
        PrinterSimulator(engine, port=0) as sim,
        open_transport(f"tcp://127.0.0.1:{sim.port}") as link,
    ):
        printer = _printer(link, labels_dir)
        pending = [await printer.submit(unit) for unit in units[:3]]
        first = await pending[0].confirmed()
        assert first.confirmed
        for label in pending[1:]:
            with pytest.raises(PrinterFault):
                await label.confirmed()
        # The buffer was cancelled: after the new roll, the failed labels never print.
        await until(lambda: _in_printer(engine) == 0, "the buffer cancelled", 1.0)
        sim.control("paper_in")
        await asyncio.sleep(0.4)
        engine.tick()
        assert _serials(engine) == ["PL0000"]
        # The line goes on with a new label, printed once.
        receipt = await printer.print_label(units[3])
        assert receipt.confirmed
    assert _serials(engine) == ["PL0000", "PL0003"]


async def test_a_link_lost_mid_pipeline_fails_every_unconfirmed_label(labels_dir: Path) -> None:
    engine = ZplEngine(ips=SLOW_IPS, render_images=False)
    async with (
        PrinterSimulator(engine, port=0) as sim,
        open_transport(f"tcp://127.0.0.1:{sim.port}") as link,
    ):
        printer = _printer(link, labels_dir)
        pending = [await printer.submit(unit) for unit in _units(3)]
        sim.disconnect()
        for label in pending:
            with pytest.raises(TransportError):
                await label.confirmed()
        assert printer.last_status is not None
        assert not printer.last_status.online
