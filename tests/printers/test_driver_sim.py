"""Both printer kinds over TCP and a pty, against the simulators, with faults."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import zxingcpp

from edge.drivers import open_transport
from edge.drivers.base import Transport
from edge.printers.driver import EscposPrinter, ZplPrinter
from edge.printers.label_data import LabelData
from edge.printers.templates import EscposTemplate, ZplTemplate
from lineside.codecs.zpl_status import StatusReplyError
from lineside.errors import DeviceTimeout, PrinterFault, TransportError
from simulators.printers import EscposEngine, PrinterSimulator, ZplEngine

Scenario = Callable[[PrinterSimulator, str], Awaitable[None]]


async def _run(engine: ZplEngine | EscposEngine, via: str, scenario: Scenario) -> None:
    async with PrinterSimulator(engine, port=0, pty=via == "pty") as sim:
        url = f"serial://{sim.pty_path}" if via == "pty" else f"tcp://127.0.0.1:{sim.port}"
        await scenario(sim, url)


def _zpl(labels_dir: Path) -> ZplTemplate:
    return ZplTemplate.load(labels_dir / "unit-60x40.zpl")


def _printer(kind: str, link: Transport, labels_dir: Path) -> ZplPrinter | EscposPrinter:
    if kind == "zpl":
        return ZplPrinter(link, _zpl(labels_dir))
    return EscposPrinter(link, EscposTemplate.load(labels_dir / "unit-58mm.toml"))


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_zpl_prints_confirmed_and_decodes(
    via: str, unit: LabelData, labels_dir: Path
) -> None:
    engine = ZplEngine(ips=200)

    async def scenario(sim: PrinterSimulator, url: str) -> None:
        async with open_transport(url) as link:
            printer = ZplPrinter(link, _zpl(labels_dir), poll_interval=0.005)
            receipts = [await printer.print_label(unit) for _ in range(2)]
        assert [r.sequence for r in receipts] == [1, 2]
        assert all(r.confirmed and not r.status.busy for r in receipts)

    await _run(engine, via, scenario)
    assert len(engine.printed) == 2
    assert "E:DEJAVU.TTF" in engine.fonts
    assert unit.product_name in engine.printed[0].fields
    image = engine.printed[0].image
    assert image is not None
    texts = {r.symbology_identifier: r.text for r in zxingcpp.read_barcodes(image)}
    assert texts["]d2"] == unit.gs1_message().as_bracketed()
    assert texts["]Q1"] == unit.digital_link()


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_escpos_prints(via: str, unit: LabelData, labels_dir: Path) -> None:
    engine = EscposEngine()

    async def scenario(sim: PrinterSimulator, url: str) -> None:
        template = EscposTemplate.load(labels_dir / "unit-58mm.toml")
        async with open_transport(url) as link:
            printer = EscposPrinter(link, template)
            receipt = await printer.print_label(unit)
        assert receipt.sequence == 1
        assert not receipt.confirmed
        assert receipt.status.ready

    await _run(engine, via, scenario)
    assert len(engine.printed) == 1
    assert unit.digital_link() in engine.printed[0].fields


@pytest.mark.parametrize("kind", ["zpl", "escpos"])
async def test_head_open_refuses_to_print(kind: str, unit: LabelData, labels_dir: Path) -> None:
    engine: ZplEngine | EscposEngine = (
        ZplEngine(render_images=False) if kind == "zpl" else EscposEngine()
    )
    engine.faults.head_open = True

    async def scenario(sim: PrinterSimulator, url: str) -> None:
        async with open_transport(url) as link:
            printer = _printer(kind, link, labels_dir)
            status = await printer.status()
            assert status.head_open
            with pytest.raises(PrinterFault, match="head_open"):
                await printer.print_label(unit)

    await _run(engine, "tcp", scenario)
    assert engine.printed == []


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_disconnect_mid_label_is_transport_error(
    via: str, unit: LabelData, labels_dir: Path
) -> None:
    engine = ZplEngine(render_images=False)

    async def scenario(sim: PrinterSimulator, url: str) -> None:
        async with open_transport(url) as link:
            printer = ZplPrinter(link, _zpl(labels_dir), status_timeout=2)
            changes = printer.status_changes()
            await printer.status()
            first = await anext(changes)
            assert first.current.online
            sim.control("disconnect_mid_label")
            with pytest.raises(TransportError):
                await printer.print_label(unit)
            lost = await asyncio.wait_for(anext(changes), 2)
            assert not lost.current.online
            await changes.aclose()

    await _run(engine, via, scenario)
    assert engine.printed == []


@pytest.mark.parametrize("kind", ["zpl", "escpos"])
async def test_garbage_status_is_typed_error(kind: str, labels_dir: Path) -> None:
    engine: ZplEngine | EscposEngine = ZplEngine() if kind == "zpl" else EscposEngine()
    engine.faults.garbage_status = True

    async def scenario(sim: PrinterSimulator, url: str) -> None:
        async with open_transport(url) as link:
            printer = _printer(kind, link, labels_dir)
            with pytest.raises(StatusReplyError):
                await printer.status()
            assert printer.last_status is not None
            assert not printer.last_status.online

    await _run(engine, "tcp", scenario)


@pytest.mark.parametrize("via", ["tcp", "pty"])
async def test_silence_is_device_timeout(via: str, labels_dir: Path) -> None:
    engine = ZplEngine()
    engine.faults.silent = True

    async def scenario(sim: PrinterSimulator, url: str) -> None:
        async with open_transport(url) as link:
            printer = ZplPrinter(link, _zpl(labels_dir), status_timeout=0.2)
            with pytest.raises(DeviceTimeout, match="no complete ~HS reply within 0.2 s"):
                await printer.status()

    await _run(engine, via, scenario)


async def test_missing_font_file_is_named(
    unit: LabelData, labels_dir: Path, tmp_path: Path
) -> None:
    async def scenario(sim: PrinterSimulator, url: str) -> None:
        async with open_transport(url) as link:
            printer = ZplPrinter(
                link, _zpl(labels_dir), fonts={"E:DEJAVU.TTF": tmp_path / "none.ttf"}
            )
            with pytest.raises(PrinterFault, match=r"none.ttf is missing"):
                await printer.print_label(unit)

    await _run(ZplEngine(render_images=False), "tcp", scenario)


async def test_never_more_than_max_in_flight(unit: LabelData, labels_dir: Path) -> None:
    engine = ZplEngine(ips=2000, render_images=False)
    seen: list[int] = []

    async def scenario(sim: PrinterSimulator, url: str) -> None:
        async with open_transport(url) as link:
            printer = ZplPrinter(
                link, _zpl(labels_dir), confirm=False, max_in_flight=2, poll_interval=0.002
            )
            printer.on_status_change(
                lambda c: seen.append(c.current.formats_in_buffer + c.current.labels_remaining)
            )
            for _ in range(5):
                await printer.print_label(unit)

    await _run(engine, "tcp", scenario)
    assert max(seen) <= 2
