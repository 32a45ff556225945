"""``lineside bench print``: label generation and printing throughput.

Every figure is measured side by side with a baseline in the same run: ZPL and our
ESC/POS encoder against plain python-escpos byte generation for an equivalent label,
and labels/s through a real TCP transport into the printer simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import textwrap
import time
from collections.abc import Callable
from datetime import date

from app.bench.report import Figure
from edge.printers.label_data import LabelData
from edge.printers.templates import ZplTemplate
from edge.printers.testlabel import TEST_TEXT, escpos_test_template
from lineside.codecs.escpos import EscposEncoder
from lineside.gs1 import GS, to_digital_link

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


def _rates(seconds: float, works: dict[str, Callable[[LabelData], object]]) -> dict[str, float]:
    """Labels per second of each ``work``, measured in turns of 50 labels each, so a
    machine busy with something else slows all of them alike."""
    units = _units()
    spent = dict.fromkeys(works, 0.0)
    done = dict.fromkeys(works, 0)
    deadline = time.perf_counter() + seconds
    turn = 0
    while time.perf_counter() < deadline:
        batch = units[(turn * 50) % len(units) :][:50]
        for name, work in works.items():
            started = time.perf_counter()
            for unit in batch:
                work(unit)
            spent[name] += time.perf_counter() - started
            done[name] += len(batch)
        turn += 1
    return {name: done[name] / spent[name] for name in works}


class PlainEscpos:
    """The baseline: the same label written with python-escpos as an application would,
    one ``Dummy`` printer (profile TM-T88V) kept for every label.

    Between labels its output is cleared and its code page forgotten, as ``ESC @``
    resets the printer's: each label selects its code page again, as ours does. The text
    is wrapped to the paper (32 characters of font A on 58 mm) with :mod:`textwrap`, and
    only the four values the label shows are computed from the unit: the bytes are ours,
    to the last one (:func:`bench_print` checks).
    """

    def __init__(self) -> None:
        from escpos.printer import Dummy

        self.printer = Dummy(profile="TM-T88V")

    def __call__(self, unit: LabelData) -> bytes:
        message = unit.gs1_message()
        p = self.printer
        p.clear()
        p.hw("INIT")
        p.magic.encoding = None
        p.set(bold=True)
        p.text("\n".join(textwrap.wrap(unit.product_name, 32, break_on_hyphens=False)) + "\n")
        p.set(bold=False)
        hri = f"LINESIDE TEST {message.as_bracketed()}"
        p.text("\n".join(textwrap.wrap(hri, 32, break_on_hyphens=False)) + "\n")
        p.qr(to_digital_link(message, stem=unit.resolver), size=6, native=True)
        with contextlib.redirect_stdout(io.StringIO()):
            p.barcode(
                "{B{1" + message.as_raw(separator=GS).replace(GS, "{1"),
                "CODE128",
                function_type="B",
                check=False,
                pos="OFF",
            )
        p.set(align="left")  # python-escpos leaves the barcode's centring on
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
    plain = PlainEscpos()

    def ours(unit: LabelData) -> bytes:
        return encoder.encode(layout.fill(unit))

    for unit in units[:3]:
        if ours(unit) != plain(unit):
            raise AssertionError("bench_print: the baseline's label is not ours, byte for byte")
    rates = _rates(seconds * 3 / 4, {"zpl": zpl.render, "escpos": ours, "plain": plain})
    zpl_rate, escpos_rate, plain_rate = rates["zpl"], rates["escpos"], rates["plain"]
    tcp_rate = asyncio.run(_tcp_rate(seconds / 4, units))
    return [
        Figure(
            "zpl_labels_per_s",
            zpl_rate,
            "labels/s",
            target=5000.0,
            baseline_name="escpos_lib_labels_per_s",
            baseline=plain_rate,
            note="ZPL template fill with ^FH escaping and GS1 DataMatrix/QR data, one core; "
            "baseline: python-escpos writing the ESC/POS test label (one Dummy printer kept)",
        ),
        Figure(
            "escpos_labels_per_s",
            escpos_rate,
            "labels/s",
            baseline_name="escpos_lib_labels_per_s",
            baseline=plain_rate,
            note="layout fill + encoding of the ESC/POS test label; baseline: the same bytes "
            "from python-escpos, one Dummy printer kept, code page reset per label (ESC @); "
            "measured in alternating turns of 50 labels",
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
