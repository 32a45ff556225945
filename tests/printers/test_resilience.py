"""Printing survives link drops, a printer that goes away and comes back, and paper-out.

Every test asserts on what the simulator actually printed: no label twice, none lost
without the driver saying so.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import pytest

from edge.drivers import ReconnectingTransport, open_transport
from edge.printers.driver import StatusChange, ZplPrinter
from edge.printers.label_data import LabelData
from edge.printers.templates import ZplTemplate
from lineside.backoff import Backoff
from lineside.errors import PrinterFault, TransportError
from simulators.printers import PrinterSimulator, ZplEngine

# Fast retries so a test never waits long; jitter off so runs are reproducible.
BACKOFF = Backoff(initial=0.01, factor=1.5, maximum=0.1, jitter=0, attempts=100)


def _units(count: int) -> list[LabelData]:
    return [
        LabelData(
            product_name="Chè Shan tuyết",
            gtin="8934567890120",
            lot="L2611",
            serial=f"RS{index:04d}",
            expiry=date(2027, 6, 30),
        )
        for index in range(count)
    ]


def _printed_serials(engine: ZplEngine, units: list[LabelData]) -> list[str]:
    """The serial of each printed label, in print order."""
    serials = [u.serial or "" for u in units]
    out = []
    for label in engine.printed:
        found = [s for s in serials if any(s in field for field in label.fields)]
        assert len(found) == 1, f"label {label.index} carries serials {found}"
        out.append(found[0])
    return out


def _link(port: int) -> ReconnectingTransport:
    link = open_transport(f"tcp://127.0.0.1:{port}", backoff=BACKOFF)
    assert isinstance(link, ReconnectingTransport)
    return link


def _printer(link: ReconnectingTransport, labels_dir: Path) -> ZplPrinter:
    template = ZplTemplate.load(labels_dir / "unit-60x40.zpl")
    return ZplPrinter(link, template, poll_interval=0.005, status_timeout=1.0)


async def test_disconnect_mid_label_never_prints_a_label_twice(labels_dir: Path) -> None:
    engine = ZplEngine(ips=500, render_images=False)
    units = _units(3)

    async def scenario() -> None:
        async with PrinterSimulator(engine, port=0) as sim:
            link = _link(sim.port)
            async with link:
                printer = _printer(link, labels_dir)
                await printer.print_label(units[0])
                sim.control("disconnect_mid_label")
                with pytest.raises(TransportError):
                    await printer.print_label(units[1])
                # The next label reconnects first; the half-sent one is not replayed.
                await printer.print_label(units[2])
                assert link.reconnects == 1

    await scenario()
    assert _printed_serials(engine, units) == ["RS0000", "RS0002"]


async def test_printer_that_comes_back_is_reopened_and_the_next_label_prints(
    labels_dir: Path,
) -> None:
    engine = ZplEngine(ips=500, render_images=False)
    units = _units(3)

    async def scenario() -> None:
        first = PrinterSimulator(engine, port=0)
        await first.open()
        port = first.port
        link = _link(port)
        async with link:
            printer = _printer(link, labels_dir)
            await printer.print_label(units[0])
            await first.close()  # the printer is switched off
            with pytest.raises(TransportError):
                await printer.print_label(units[1])
            assert printer.last_status is not None
            assert not printer.last_status.online

            revived = PrinterSimulator(engine, port=port)

            async def switch_on_later() -> None:
                # While the driver is already retrying the connection.
                await asyncio.sleep(0.2)
                await revived.open()

            comeback = asyncio.create_task(switch_on_later())
            try:
                receipt = await printer.print_label(units[2])
            finally:
                await comeback
                await revived.close()
            assert receipt.confirmed
            assert link.reconnects == 1
            assert printer.last_status.online

    await scenario()
    assert _printed_serials(engine, units) == ["RS0000", "RS0002"]


@pytest.mark.parametrize("confirm", [True, False])
async def test_paper_out_after_n_faults_label_n_plus_1_then_resumes(
    labels_dir: Path, confirm: bool
) -> None:
    engine = ZplEngine(ips=500, render_images=False)
    engine.faults.paper_out_after = 3
    units = _units(4)
    changes: list[StatusChange] = []

    async def scenario() -> None:
        async with PrinterSimulator(engine, port=0) as sim:
            link = _link(sim.port)
            async with link:
                template = ZplTemplate.load(labels_dir / "unit-60x40.zpl")
                printer = ZplPrinter(
                    link, template, poll_interval=0.005, confirm=confirm, max_in_flight=1
                )
                printer.on_status_change(changes.append)
                for unit in units[:3]:
                    await printer.print_label(unit)
                with pytest.raises(PrinterFault, match="paper_out"):
                    await printer.print_label(units[3])
                assert any(
                    c.current.paper_out and (c.previous is None or not c.previous.paper_out)
                    for c in changes
                )
                assert len(engine.printed) == 3
                assert sim.control("paper_in")["ok"] is True
                # The refused label was never sent, so printing it now prints it once.
                await printer.print_label(units[3])
                while (await printer.status()).busy:  # without confirm: let it finish
                    await asyncio.sleep(0.005)

    await scenario()
    assert changes[-1].current.ready
    assert _printed_serials(engine, units) == ["RS0000", "RS0001", "RS0002", "RS0003"]
