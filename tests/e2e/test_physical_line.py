"""The simulated physical line: labels from the printer simulator reach the scanner simulator
as a real reader would transmit them, through the real printer and scanner drivers."""

from __future__ import annotations

import asyncio
import contextlib
import random
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.drivers import open_transport
from edge.printers.driver import ZplPrinter
from edge.printers.label_data import LabelData
from edge.printers.templates import BUILTIN_LABELS, ZplTemplate, load_template
from edge.scanners.urls import open_scanner
from lineside.errors import LinesideError
from simulators.line import (
    Conveyor,
    PhysicalLine,
    ReadScript,
    symbols_on_label,
)
from simulators.printers.engines import ZplEngine
from simulators.printers.server import PrinterSimulator
from simulators.scanners.codes import GS
from simulators.scanners.line import TcpScannerSimulator

LABELS = BUILTIN_LABELS
GTIN = "08938512000114"
SERIAL_CHARS = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def _unit_template() -> ZplTemplate:
    template = load_template(LABELS / "unit-60x40.zpl")
    assert isinstance(template, ZplTemplate)
    return template


def _label(serial: str, lot: str = "MD2611") -> LabelData:
    return LabelData(
        product_name="Miến dong Côn Minh ^~",
        gtin=GTIN,
        lot=lot,
        serial=serial,
        expiry=date(2027, 11, 1),
        production_date=date(2026, 11, 1),
        resolver="https://id.example.vn",
    )


@settings(max_examples=60, deadline=None)
@given(
    serial=st.text(SERIAL_CHARS, min_size=1, max_size=20),
    lot=st.text(SERIAL_CHARS + "-", min_size=1, max_size=20),
)
def test_unit_label_symbols_carry_the_element_string(serial: str, lot: str) -> None:
    raw = _unit_template().render(_label(serial, lot))
    symbols = symbols_on_label(raw)
    datamatrix, qr = symbols[0], symbols[1]
    assert datamatrix.symbology == "]d2"
    # FNC1 separators come back as GS after the variable-length lot; no leading FNC1.
    assert datamatrix.data == f"01{GTIN}112611011727110110{lot}{GS}21{serial}"
    assert qr.symbology == "]Q1"
    assert qr.data.startswith(f"https://id.example.vn/01/{GTIN}/10/")
    assert qr.data.split("?")[0].endswith(f"/21/{serial}")


def test_gs1_128_function_codes_are_decoded() -> None:
    raw = b"^XA^BCN,120,N,N,N^FD>;>8001893851200000000197>6L1^FS^XZ"
    (symbol,) = symbols_on_label(raw)
    assert symbol.symbology == "]C1"
    assert symbol.data == "00189385120000000019" + "7L1"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash_the_label_reader(data: bytes) -> None:
    with contextlib.suppress(LinesideError):
        for symbol in symbols_on_label(data):
            assert symbol.symbology.startswith("]")


def test_script_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match="miss must be a probability"):
        ReadScript(miss=1.5)
    with pytest.raises(ValueError, match="more than 1"):
        ReadScript(miss=0.6, garbage=0.6)
    rng = random.Random(3)
    outcomes = {ReadScript(miss=0.5).choose(rng) for _ in range(200)}
    assert outcomes == {"miss", "good"}


async def _line_run(script: ReadScript, labels: int) -> tuple[list[bytes], Conveyor]:
    engine = ZplEngine(ips=1e6, render_images=False)
    async with PrinterSimulator(engine) as printer_sim, TcpScannerSimulator() as scanner_sim:
        conveyor = Conveyor.on_the_wire(engine, scanner_sim, script)
        line = PhysicalLine(unit=conveyor)
        belt = asyncio.create_task(line.run())
        scanner = open_scanner(scanner_sim.url, "verify")
        reads: list[bytes] = []

        async def collect() -> None:
            async for read in scanner.reads():
                reads.append(read.raw)

        reader = asyncio.create_task(collect())
        await scanner_sim.wait_for_client()
        driver = ZplPrinter(open_transport(f"tcp://127.0.0.1:{printer_sim.port}"), _unit_template())
        await driver.transport.open()
        try:
            for index in range(labels):
                await driver.print_label(_label(f"S{index:05d}"))
            for _ in range(500):
                if conveyor.on_belt == 0 and conveyor.stats.labels == labels:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
        finally:
            await driver.transport.close()
            for task in (belt, reader):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    return reads, conveyor


async def test_every_printed_label_is_read_in_order_after_the_conveyor() -> None:
    reads, conveyor = await _line_run(ReadScript(travel_s=0.01), 20)
    assert conveyor.stats.labels == 20
    assert conveyor.stats.good == 20
    assert len(reads) == 20
    for index, raw in enumerate(reads):
        assert raw.endswith(f"\x1d21S{index:05d}".encode())


async def test_scripted_misses_garbage_and_foreign_codes() -> None:
    script = ReadScript(travel_s=0.0, miss=0.2, garbage=0.1, foreign=0.1, misread=0.1, seed=7)
    reads, conveyor = await _line_run(script, 60)
    stats = conveyor.stats
    assert stats.labels == 60
    assert stats.miss > 0
    assert stats.garbage > 0
    assert stats.foreign > 0
    assert stats.misread > 0
    assert stats.good + stats.miss + stats.garbage + stats.foreign + stats.misread == 60
    # Every label but the missed ones produced a read (garbage may hold no full line).
    assert 60 - stats.miss - stats.garbage <= len(reads) <= 60 - stats.miss
    foreign = [r for r in reads if b"STRAY" in r or b"FOREIGN" in r]
    assert len(foreign) == stats.foreign
