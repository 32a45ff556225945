"""ESC/POS text: precomputed code page tables give python-escpos's exact bytes, faster."""

from __future__ import annotations

import contextlib
import io
from datetime import date
from pathlib import Path

import pytest
from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.drivers import open_transport
from edge.printers.driver import EscposPrinter
from edge.printers.label_data import LabelData
from edge.printers.templates import EscposTemplate
from lineside.codecs.codepages import CodePageTables
from lineside.codecs.escpos import EscposEncoder, EscposLine
from lineside.errors import InvalidInput
from simulators.printers import EscposEngine, PrinterSimulator

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợ"
    "ùúủũụừứửữựỳýỷỹỵĐĂÂÊÔƠƯẾỆỮ"
)
# Latin-1, Greek, Cyrillic, Hebrew, symbols, combining marks, CJK: every page-switch path.
MIXED = VIETNAMESE + " -.:/0123456789€–“”«»©°±µßäöüñçαβγЖжЯאב中文ｶ\u0300\u0301☃"

TABLES = CodePageTables.for_profile("TM-T88V")


def _python_escpos_text(text: str) -> bytes:
    printer = Dummy(profile="TM-T88V")
    printer.text(text)
    return bytes(printer.output)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=MIXED, max_size=40) | st.text(max_size=20))
def test_same_bytes_as_python_escpos(text: str) -> None:
    assert TABLES.writer().write(text) == _python_escpos_text(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=VIETNAMESE + " 0123456789-ABCxyz", max_size=60))
def test_vietnamese_roundtrip(text: str) -> None:
    data = TABLES.writer().write(text)
    assert b"?" not in data
    assert TABLES.decode(data) == text


@given(st.binary(max_size=100))
def test_decode_random_bytes_never_crashes(data: bytes) -> None:
    with contextlib.suppress(InvalidInput):
        TABLES.decode(data)


def test_writer_keeps_the_page_across_lines() -> None:
    writer = TABLES.writer()
    first = writer.write("Bằng\n")
    second = writer.write("ằ\n")
    assert first.count(b"\x1bt") == 2  # CP437 for "B", then TCVN-3
    assert b"\x1bt" not in second


def test_unknown_profile_is_named() -> None:
    with pytest.raises(InvalidInput, match="ESC/POS profile 'NoSuchPrinter' is unknown"):
        CodePageTables.for_profile("NoSuchPrinter")


def test_style_commands_only_when_they_change() -> None:
    data = EscposEncoder().encode(
        [
            EscposLine("text", "A", size=2, bold=True),
            EscposLine("text", "B", size=2, bold=True),
            EscposLine("qr", "https://id.gs1.org/01/08934567890120", size=4),
            EscposLine("text", "C"),
        ]
    )
    assert data.startswith(b"\x1b@")
    assert data.count(b"\x1b!0") == 1  # double size, once for both lines
    assert data.count(b"\x1bE\x01") == 1  # bold on, once
    qr_at = data.index(b"\x1d(k")
    assert data.rindex(b"\x1b!\x00", 0, qr_at) > data.index(b"B\n")  # normal size for the QR
    assert b"\x1ba" not in data  # left aligned throughout: no alignment command


def test_alignment_after_a_barcode_is_restored() -> None:
    # python-escpos centres every barcode (ESC a 1); the next left-aligned line must say so.
    data = EscposEncoder().encode(
        [
            EscposLine("gs1_128", "0108934567890120"),
            EscposLine("text", "left"),
        ]
    )
    assert data.index(b"\x1ba\x00") > data.index(b"\x1dk")


def test_label_prints_and_its_text_reads_back(labels_dir: Path) -> None:
    template = EscposTemplate.load(labels_dir / "unit-58mm.toml")
    unit = LabelData(product_name="Miến dong Côn Minh", gtin="8934567890120", lot="L1", serial="S1")
    data = EscposEncoder().encode(template.fill(unit))
    # The product name, in its own code page run, decodes back to the original.
    start = data.index(b"\x1bt\x00M")
    assert TABLES.decode(data[start : data.index(b"\n", start)]) == unit.product_name


async def test_raster_template_prints_text_as_an_image(labels_dir: Path) -> None:
    text = (labels_dir / "unit-58mm.toml").read_text(encoding="utf-8")
    template = EscposTemplate.from_text(text.replace('codepage = "CP1258"', 'codepage = "raster"'))
    unit = LabelData(product_name="Miến dong", gtin="8934567890120", lot="L1", serial="S1")
    engine = EscposEngine()

    async def scenario() -> None:
        async with (
            PrinterSimulator(engine, port=0) as sim,
            open_transport(f"tcp://127.0.0.1:{sim.port}") as link,
        ):
            printer = EscposPrinter(link, template)
            assert printer.encoder.text_mode == "raster"
            await printer.print_label(unit)

    await scenario()
    raw = engine.printed[0].raw
    assert b"\x1dv0" in raw  # GS v 0: a raster image
    assert "Miến".encode() not in raw
    assert unit.digital_link() in engine.printed[0].fields


def test_encoder_output_is_the_same_for_every_call() -> None:
    encoder = EscposEncoder()
    unit = LabelData(
        product_name="Chè Shan tuyết",
        gtin="8934567890120",
        lot="L1",
        serial="S1",
        expiry=date(2027, 6, 30),
    )
    lines = EscposTemplate.from_text(
        '[[line]]\ntext = "{{product_name}}"\n[[line]]\nqr = "{{digital_link}}"\n'
    ).fill(unit)
    assert encoder.encode(lines) == encoder.encode(lines) == EscposEncoder().encode(lines)


def _reference(lines: list[EscposLine], profile: str) -> bytes:
    """The label written the plain way: one python-escpos printer for it, every command
    through python-escpos (text wrapped as the encoder wraps it)."""
    from lineside.codecs.escpos import wrap_codepage_text

    p = Dummy(profile=profile)
    p.hw("INIT")
    align, bold, size = "left", False, 1
    for line in lines:
        line_size = line.size if line.kind == "text" else 1
        if line_size != size:
            if line_size > 1:
                p.set(double_width=True, double_height=True)
            else:
                p.set(normal_textsize=True)
            size = line_size
        if line.align != align:
            p.set(align=line.align)
            align = line.align
        if line.bold != bold:
            p.set(bold=line.bold)
            bold = line.bold
        if line.kind == "text":
            p.text("\n".join(wrap_codepage_text(line.value, 384, line.size)) + "\n")
        elif line.kind == "qr":
            p.qr(line.value, size=max(1, min(16, line.size)), native=True)
        elif line.kind in ("gs1_128", "datamatrix"):
            with contextlib.redirect_stdout(io.StringIO()):
                p.barcode(
                    "{B{1" + line.value.replace("\x1d", "{1"),
                    "CODE128",
                    function_type="B",
                    check=False,
                    pos="OFF",
                )
            align = "center"
        elif line.kind == "feed":
            p.text("\n" * max(1, line.size))
        elif line.kind == "cut":
            p.cut(mode="PART" if line.value.startswith("part") else "FULL")
    return bytes(p.output)


LONG_LINK = "https://id.example.com/01/08934567890120/21/" + "S" * 20 + "?x=" + "y" * 250
EVERY_KIND = [
    EscposLine("text", "Miến dong Côn Minh – Chè Shan tuyết", align="center", bold=True, size=2),
    EscposLine("qr", "https://id.gs1.org/01/08934567890120", size=4),
    EscposLine("qr", LONG_LINK, align="right", size=20),  # 2-byte length, size clamped
    EscposLine("qr", ""),
    EscposLine("gs1_128", "0108934567890120\x1d21ABC"),
    EscposLine("text", "après le code", align="left"),
    EscposLine("feed", size=3),
    EscposLine("cut", "partial"),
    EscposLine("datamatrix", "0108934567890120"),
    EscposLine("cut", "full"),
]


@pytest.mark.parametrize("profile", ["TM-T88V", "default", "TM-T20II", "Sunmi-V2"])
def test_commands_recorded_once_give_python_escpos_bytes(profile: str) -> None:
    """The encoder writes style, QR, barcode and cut commands from bytes recorded once per
    profile; a label is byte for byte what python-escpos writes for it, on profiles with
    and without hardware barcodes or a cutter."""
    encoder = EscposEncoder(profile=profile)
    assert encoder.encode(EVERY_KIND) == _reference(EVERY_KIND, profile)
    assert encoder.encode(EVERY_KIND[4:6]) == _reference(EVERY_KIND[4:6], profile)


def test_a_profile_that_draws_barcodes_as_images_goes_through_python_escpos() -> None:
    encoder = EscposEncoder(profile="TM-U220B")  # no hardware CODE128, a cutter
    lines = [EscposLine("gs1_128", "0108"), EscposLine("cut", "partial")]
    data = encoder.encode(lines)
    assert b"\x1dkI" not in data  # no hardware barcode command...
    assert data == _reference(lines, "TM-U220B")  # ...but python-escpos's image


def test_print_benchmark_baseline_writes_our_label() -> None:
    """``lineside bench print`` compares with python-escpos writing the same bytes."""
    from app.bench.printing import PlainEscpos, _units, bench_print
    from edge.printers.testlabel import escpos_test_template

    plain, layout, encoder = PlainEscpos(), escpos_test_template(), EscposEncoder()
    for unit in _units(20):
        assert plain(unit) == encoder.encode(layout.fill(unit))
    figures = {f.name: f for f in bench_print(seconds=0.2)}
    for name in ("zpl_labels_per_s", "escpos_labels_per_s"):
        assert figures[name].baseline_name == "escpos_lib_labels_per_s"
        baseline = figures[name].baseline
        assert figures[name].value > 0
        assert baseline is not None
        assert baseline > 0
