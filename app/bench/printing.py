"""``lineside bench print``: label generation and printing throughput.

Every figure is measured side by side with a baseline in the same run: ZPL and our
ESC/POS encoder against plain python-escpos byte generation for an equivalent label,
and labels/s through a real TCP transport into the printer simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Callable
from datetime import date

from app.bench.report import Figure
from edge.printers.label_data import LabelData
from edge.printers.templates import ZplTemplate
from edge.printers.testlabel import TEST_TEXT, escpos_test_template
from lineside.codecs.escpos import EscposEncoder

_UNIT_ZPL = """^XA
^CI28
^PW480^LL320
^FO16,12^A@N,30,30,E:DEJAVU.TTF^FD{{product_name}}^FS
^FO16,84^A@N,22,22,E:DEJAVU.TTF^FDLot: {{lot}} HSD: {{expiry}}^FS
^FO16,144^BXN,5,200,,,,_^FD{{element_string}}^FS
^FO300,120^BQN,2,4^FDMA,{{digital_link}}^FS
^FO150,150^A@N,18,18,E:DEJAVU.TTF^FD{{hri}}^FS
^XZ
"""


def _units(count: int = 500) -> list[LabelData]:
    return [
        LabelData(
            product_name=TEST_TEXT,
            gtin="08934567890120",
            lot="L2611",
            serial=f"S{index:07d}X",
            expiry=date(2027, 6, 30),
        )
        for index in range(count)
    ]


def _rate(seconds: float, work: Callable[[LabelData], object], units: list[LabelData]) -> float:
    done = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for unit in units[:50]:
            work(unit)
        done += 50
        units = units[50:] + units[:50]
    return done / (time.perf_counter() - started)


def _plain_escpos(unit: LabelData) -> bytes:
    from escpos.printer import Dummy

    fields = unit.fields()
    p = Dummy(profile="TM-T88V")
    p.hw("INIT")
    p.set(align="center", bold=True)
    p.text(fields["product_name"] + "\n")
    p.set(align="left", bold=False)
    p.text(f"LINESIDE TEST {fields['hri']}\n")
    p.qr(fields["digital_link"], size=6, native=True)
    with contextlib.redirect_stdout(io.StringIO()):
        p.barcode(
            "{B{1" + fields["element_string"].replace("\x1d", "{1"),
            "CODE128",
            function_type="B",
            check=False,
            pos="OFF",
        )
    p.cut(mode="PART")
    return bytes(p.output)


async def _tcp_rate(seconds: float, units: list[LabelData]) -> float:
    from edge.drivers import open_transport
    from edge.printers.driver import ZplPrinter
    from simulators.printers import PrinterSimulator, ZplEngine

    # Resident font 0 instead of a downloaded TTF: the figure is about labels, not fonts.
    template = ZplTemplate.from_text(_UNIT_ZPL.replace("^A@N", "^A0N").replace(",E:DEJAVU.TTF", ""))
    engine = ZplEngine(ips=1e6, render_images=False)
    async with PrinterSimulator(engine, port=0) as sim:
        link = open_transport(f"tcp://127.0.0.1:{sim.port}")
        async with link:
            printer = ZplPrinter(link, template, confirm=False, max_in_flight=8, fonts={})
            done = 0
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                await printer.print_label(units[done % len(units)])
                done += 1
            return done / (time.perf_counter() - started)


def bench_print(seconds: float = 2.0) -> list[Figure]:
    """Measure label generation (ZPL, ESC/POS, plain python-escpos) and TCP printing."""
    units = _units()
    zpl = ZplTemplate.from_text(_UNIT_ZPL)
    layout = escpos_test_template()
    encoder = EscposEncoder()
    share = seconds / 4
    zpl_rate = _rate(share, zpl.render, units)
    escpos_rate = _rate(share, lambda u: encoder.encode(layout.fill(u)), units)
    plain_rate = _rate(share, _plain_escpos, units)
    tcp_rate = asyncio.run(_tcp_rate(share, units))
    return [
        Figure(
            "zpl_labels_per_s",
            zpl_rate,
            "labels/s",
            target=5000.0,
            baseline_name="escpos_lib_labels_per_s",
            baseline=plain_rate,
            note="ZPL template fill with ^FH escaping and GS1 DataMatrix/QR data, one core",
        ),
        Figure(
            "escpos_labels_per_s",
            escpos_rate,
            "labels/s",
            baseline_name="escpos_lib_labels_per_s",
            baseline=plain_rate,
            note="layout fill + encoding; code page tables built once per encoder, not per label",
        ),
        Figure(
            "zpl_tcp_labels_per_s",
            tcp_rate,
            "labels/s",
            baseline_name="zpl_labels_per_s",
            baseline=zpl_rate,
            note="ZplPrinter over TCP into the simulator, ~HS+~HQES poll before every label",
        ),
    ]
