"""``lineside printer`` and ``lineside label`` commands against a simulator in a thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from typer.testing import CliRunner

from app.cli import app
from edge.printers.label_data import LabelData
from edge.printers.testlabel import CALIBRATION, TEST_TEXT
from simulators.printers import EscposEngine, PrinterSimulator, ZplEngine

runner = CliRunner()


def _serve(engine: ZplEngine | EscposEngine) -> Iterator[str]:
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    url: list[str] = []
    loop_holder: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        stop.append(asyncio.Event())
        loop_holder.append(asyncio.get_running_loop())
        async with PrinterSimulator(engine, port=0) as sim:
            url.append(f"tcp://127.0.0.1:{sim.port}")
            ready.set()
            await stop[0].wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield url[0]
    loop_holder[0].call_soon_threadsafe(stop[0].set)
    thread.join(10)


@pytest.fixture
def zpl_engine() -> ZplEngine:
    return ZplEngine(ips=500)


@pytest.fixture
def zpl_url(zpl_engine: ZplEngine) -> Iterator[str]:
    yield from _serve(zpl_engine)


def test_printer_status_json(zpl_url: str) -> None:
    result = runner.invoke(app, ["printer", "status", zpl_url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ready"] is True


def test_printer_status_fault_exit_1(zpl_engine: ZplEngine, zpl_url: str) -> None:
    zpl_engine.faults.paper_out = True
    result = runner.invoke(app, ["printer", "status", zpl_url, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["faults"] == ["paper_out"]


def test_printer_status_shows_hqes_faults(zpl_engine: ZplEngine, zpl_url: str) -> None:
    zpl_engine.faults.cutter_fault = True
    result = runner.invoke(app, ["printer", "status", zpl_url, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["faults"] == ["cutter_fault"]


def test_printer_test_label_zpl(zpl_engine: ZplEngine, zpl_url: str) -> None:
    result = runner.invoke(app, ["printer", "test", zpl_url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["confirmed"] is True
    label = zpl_engine.printed[0]
    assert TEST_TEXT in label.fields
    assert label.image is not None
    found = {r.symbology_identifier: r.text for r in zxingcpp.read_barcodes(label.image)}
    calibration = CALIBRATION.gs1_message().as_bracketed()
    assert found == {"]d2": calibration, "]C1": calibration, "]Q1": CALIBRATION.digital_link()}


def test_printer_test_label_escpos() -> None:
    engine = EscposEngine()
    for url in _serve(engine):
        result = runner.invoke(app, ["printer", "test", url, "--kind", "escpos"])
        assert result.exit_code == 0, result.output
    assert CALIBRATION.digital_link() in engine.printed[0].fields


def test_bad_url_exit_2() -> None:
    result = runner.invoke(app, ["printer", "status", "tcp://nohost"])
    assert result.exit_code == 2
    assert "the port is missing" in result.output


def test_unreachable_exit_1() -> None:
    result = runner.invoke(app, ["printer", "status", "serial:///dev/ttyNOPE", "--timeout", "0.2"])
    assert result.exit_code == 1
    assert "cannot open /dev/ttyNOPE" in result.output


def test_label_preview_png_decodes(tmp_path: Path, labels_dir: Path) -> None:
    unit = LabelData(product_name="Chè Shan tuyết", gtin="8934567890120", lot="A1", serial="Z9")
    out = tmp_path / "label.png"
    result = runner.invoke(
        app,
        [
            "label",
            "preview",
            str(labels_dir / "unit-60x40.zpl"),
            "--data",
            unit.model_dump_json(),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    decoded = {r.symbology_identifier: r.text for r in zxingcpp.read_barcodes(Image.open(out))}
    assert decoded == {"]d2": unit.gs1_message().as_bracketed(), "]Q1": unit.digital_link()}


def test_label_preview_bad_data_exit_2(tmp_path: Path, labels_dir: Path) -> None:
    result = runner.invoke(
        app,
        ["label", "preview", str(labels_dir / "unit-60x40.zpl"), "--data", '{"gtin": "1"}'],
    )
    assert result.exit_code == 2
    assert "product_name" in result.output


def test_a_zpl_status_query_to_an_escpos_printer_suggests_kind_escpos() -> None:
    for url in _serve(EscposEngine()):
        result = runner.invoke(app, ["printer", "status", url, "--timeout", "0.3"])
        assert result.exit_code in (1, 2), result.output
        assert "try --kind escpos" in result.stderr
