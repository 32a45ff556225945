"""A work order whose unit label fails its preflight cannot start; the approved label is
what the operator screen shows; check-config preflights every configured template."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image
from typer.testing import CliRunner

from app.cli import app
from edge.labels import LabelApproval, LabelRefused
from edge.printers.preflight import order_label_data
from edge.verdicts import Phase
from tests.edge.conftest import make_config, make_order
from tests.edge.simline import SimulatedLine, run_order
from tests.edge.test_web import PIN, Screen

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "line-example.toml"
# The product name on one line of a 60 mm label: cut off at the label's edge.
OVERFLOWING = """^XA^PW480^LL320
^FO16,12^A@N,30,30,E:DEJAVU.TTF^FD{{product_name}} - Hợp tác xã Côn Minh^FS
^FO300,120^BQN,2,4^FDMA,{{digital_link}}^FS
^XZ
"""


def _templates(tmp_path: Path, unit: str) -> str:
    return f'\n[labels.templates]\nunit = "{unit}"\n'


async def test_a_work_order_with_a_bad_label_cannot_start(tmp_path: Path) -> None:
    (tmp_path / "bad.zpl").write_text(OVERFLOWING, encoding="utf-8")
    line = SimulatedLine(tmp_path)
    config = make_config(tmp_path, extra=_templates(tmp_path, "bad.zpl"))
    line.engine.labels = LabelApproval.for_line(config)
    line.engine.load(make_order())
    with pytest.raises(LabelRefused) as refused:
        line.engine.start()
    assert "a label fails its preflight" in str(refused.value)
    assert "beyond the label's width of 480 dots" in str(refused.value)
    assert line.engine.phase is Phase.LOADED
    assert line.engine.counters.printed == 0
    assert line.engine.labels.approved is None


async def test_a_good_label_is_approved_and_the_order_runs(tmp_path: Path) -> None:
    line = SimulatedLine(tmp_path)
    config = make_config(tmp_path, extra=_templates(tmp_path, "builtin:unit-60x40.zpl"))
    approval = LabelApproval.for_line(config)
    line.engine.labels = approval
    order = make_order(quantity=6, units_per_case=6)
    await run_order(line, order)
    assert line.journal.serials.lot_counts("WO-1")[0].commissioned == 6
    assert approval.approved is not None
    image = Image.open(io.BytesIO(approval.approved.png()))
    expected = order_label_data(order, resolver=config.line.resolver)
    texts = {r.text for r in zxingcpp.read_barcodes(image)}
    assert texts == {expected.digital_link(), expected.gs1_message().as_bracketed()}


def test_operator_screen_shows_the_approved_label(tmp_path: Path) -> None:
    screen = Screen(tmp_path)
    config = make_config(tmp_path, extra=_templates(tmp_path, "builtin:unit-60x40.zpl"))
    screen.thread.start()
    assert screen.ready.wait(10)
    try:
        assert screen.engine is not None
        screen.engine.labels = LabelApproval.for_line(config)
        with httpx.Client(base_url=screen.url, timeout=10) as client:
            assert client.get("/api/label.png").status_code == 404
            assert client.post("/api/start", json={"pin": PIN}).json()["phase"] == "running"
            answer = client.get("/api/label.png")
            assert answer.status_code == 200
            assert answer.headers["content-type"] == "image/png"
            image = Image.open(io.BytesIO(answer.content))
            assert image.size == (480, 320)
            assert len(zxingcpp.read_barcodes(image)) == 2
            client.post("/api/pause", json={"pin": PIN, "reason": "xong"})
    finally:
        screen.stop()


def test_operator_screen_refuses_to_start_a_bad_label(tmp_path: Path) -> None:
    (tmp_path / "bad.zpl").write_text(OVERFLOWING, encoding="utf-8")
    screen = Screen(tmp_path)
    config = make_config(tmp_path, extra=_templates(tmp_path, "bad.zpl"))
    screen.thread.start()
    assert screen.ready.wait(10)
    try:
        assert screen.engine is not None
        screen.engine.labels = LabelApproval.for_line(config)
        with httpx.Client(base_url=screen.url, timeout=10) as client:
            refused = client.post("/api/start", json={"pin": PIN})
            assert refused.status_code == 409
            assert "fails its preflight" in refused.json()["detail"]
            assert client.get("/api/state").json()["phase"] == "loaded"
    finally:
        screen.stop()


def test_check_config_lists_label_problems(tmp_path: Path) -> None:
    (tmp_path / "bad.zpl").write_text(OVERFLOWING, encoding="utf-8")
    config = tmp_path / "line.toml"
    config.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace(
            'unit = "builtin:unit-60x40.zpl"', 'unit = "bad.zpl"'
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["edge", "check-config", str(config)])
    assert result.exit_code == 2
    assert "labels.templates.unit (bad.zpl): {{product_name}} text" in result.output
    assert "beyond the label's width of 480 dots" in result.output


# A case label whose SSCC GS1-128 is too short and too thin for a logistic unit.
THIN_CASE = """^XA^PW800^LL560
^BY2,3,80^FO40,40^BCN,80,N,N,N^FD>;>800{{extra.sscc}}^FS
^FO40,200^A@N,24,24,E:DEJAVU.TTF^FDSố lượng: {{extra.count}}^FS
^XZ
"""
CASE_PRINTER = """
[[devices]]
kind = "printer"
id = "case-printer"
role = "case_printer"
url = "tcp://127.0.0.1:9"
dpi = 203
"""


def test_the_case_label_is_checked_on_a_line_with_a_case_printer(tmp_path: Path) -> None:
    (tmp_path / "case.zpl").write_text(THIN_CASE, encoding="utf-8")
    templates = '\n[labels.templates]\nunit = "builtin:unit-60x40.zpl"\ncase = "case.zpl"\n'
    order = make_order(units_per_case=12)
    without_printer = LabelApproval.for_line(make_config(tmp_path, extra=templates))
    without_printer.approve(order)  # no case printer: its template is not used
    approval = LabelApproval.for_line(make_config(tmp_path, extra=CASE_PRINTER + templates))
    with pytest.raises(LabelRefused) as refused:
        approval.approve(order)
    assert "case label {{extra.sscc}} GS1 Code 128 (line 2): X-dimension 2 dots" in str(
        refused.value
    )
    assert "bars 80 dots = 10.01 mm high" in str(refused.value)
    good = templates.replace('"case.zpl"', '"builtin:case-100x70.zpl"')
    LabelApproval.for_line(make_config(tmp_path, extra=CASE_PRINTER + good)).approve(order)
