"""Label preflight: the shipped templates pass; labels that overlap, overflow, lose a quiet
zone, truncate text, lack glyphs or carry a wrong check digit fail with those problems."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from typer.testing import CliRunner

from app.cli import app
from edge.printers.label_data import LabelData
from edge.printers.preflight import SAMPLE_CASE, SAMPLE_UNIT, LabelCheck, check_label
from edge.printers.templates import EscposTemplate, ZplTemplate, load_template
from lineside.codecs.preflight import check_layout
from lineside.codecs.render import layout_zpl

runner = CliRunner()
QR = "\n^FO300,120^BQN,2,4^FDMA,{{digital_link}}^FS"


def _zpl(body: str, size: str = "^PW480^LL320") -> ZplTemplate:
    """A template with each field on its own line (line 2 onwards), as problems name them."""
    fields = body.replace("^FS", "^FS\n").strip("\n").replace("\n\n", "\n")
    return ZplTemplate.from_text(f"^XA^CI28{size}\n{fields}\n^XZ", "t.zpl")


def _kinds(check: LabelCheck) -> set[str]:
    return {p.kind for p in check.problems}


@pytest.mark.parametrize(
    "name", ["unit-60x40.zpl", "case-100x70.zpl", "unit-58mm.toml", "case-58mm.toml"]
)
def test_shipped_templates_pass(name: str) -> None:
    result = runner.invoke(app, ["label", "check", f"builtin:{name}", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "template": f"builtin:{name}",
        "ok": True,
        "problems": [],
    }


def test_shipped_unit_label_reads_back_and_speaks_vietnamese(tmp_path: Path) -> None:
    data = SAMPLE_UNIT
    template = load_template("builtin:unit-60x40.zpl")
    assert isinstance(template, ZplTemplate)
    label = layout_zpl(template.render(data))
    texts = [m.content for m in label.marks if m.kind == "text"]
    assert "NSX: 30/06/2026  HSD: 30/06/2027" in texts
    assert f"Lô: {data.lot}" in texts
    assert f"Số sê-ri: {data.serial}" in texts
    name = next(m for m in label.marks if m.content == data.product_name)
    assert len(name.lines) == 2  # wrapped, not cut at the edge
    decoded = {r.symbology_identifier: r.text for r in zxingcpp.read_barcodes(label.image)}
    assert decoded == {"]d2": data.gs1_message().as_bracketed(), "]Q1": data.digital_link()}


def test_shipped_case_label_has_count_and_sscc() -> None:
    template = load_template("builtin:case-100x70.zpl")
    assert isinstance(template, ZplTemplate)
    label = layout_zpl(template.render(SAMPLE_CASE))
    texts = {m.content for m in label.marks if m.kind == "text"}
    assert "Số lượng: 24 đơn vị" in texts
    assert "HSD: 30/06/2027" in texts
    reads = {(r.symbology_identifier, r.text) for r in zxingcpp.read_barcodes(label.image)}
    assert reads == {("]d2", "(00)389345670000000018"), ("]C1", "(00)389345670000000018")}


def test_old_unit_layout_text_in_the_qr_quiet_zone() -> None:
    body = "^FO16,84^A@N,22,22,E:DEJAVU.TTF^FDLot: {{lot}} HSD: {{expiry?}} and more^FS" + QR
    check = check_label(_zpl(body), SAMPLE_UNIT)
    problem = next(p for p in check.problems if p.kind == "quiet_zone")
    assert problem.field == "{{digital_link}} QR code (line 3)"
    assert "lies in its quiet zone (4 modules = 16 dots)" in problem.message


def test_overlap_and_overflow() -> None:
    body = (
        "^FO16,12^A@N,30,30,E:DEJAVU.TTF^FD{{product_name}}^FS"  # one line, too long
        "^FO310,130^A@N,20,20,E:DEJAVU.TTF^FDon the code^FS" + QR
    )
    check = check_label(_zpl(body), SAMPLE_UNIT)
    assert {"bounds", "overlap"} <= _kinds(check)
    bounds = next(p for p in check.problems if p.kind == "bounds")
    assert "beyond the label's width of 480 dots" in bounds.message
    overlap = next(p for p in check.problems if p.kind == "overlap")
    assert "'on the code'" in overlap.field
    assert "QR code" in overlap.message


def test_truncated_block_and_missing_glyphs() -> None:
    body = (
        "^FO16,12^A@N,30,30,E:DEJAVU.TTF^FB200,1,0,L^FD{{product_name}}^FS"
        "^FO16,60^A0N,20,20^FDSố: {{lot}}^FS" + QR
    )
    check = check_label(_zpl(body), SAMPLE_UNIT)
    truncated = next(p for p in check.problems if p.kind == "truncated")
    assert "does not fit its 1-line block" in truncated.message
    glyphs = next(p for p in check.problems if p.kind == "glyphs")
    assert glyphs.message.endswith("has no glyph for 'ố'")
    assert "printer-resident font" in glyphs.message


def test_wrong_sscc_check_digit_and_hri() -> None:
    body = (
        "^FO24,24^BXN,6,200,,,,_^FD_100{{extra.sscc}}^FS"
        "^FO24,200^A@N,24,24,E:DEJAVU.TTF^FD(00) 389345670000000018^FS"
    )
    bad = SAMPLE_CASE.model_copy(update={"extra": {"sscc": "389345670000000017"}})
    check = check_label(_zpl(body, "^PW800^LL560"), bad, application="case")
    by_kind = {p.kind: p for p in check.problems}
    assert by_kind["gs1"].message == "AI (00): check digit 8 expected, got 7"
    assert by_kind["hri"].message == (
        "shows (00) 389345670000000018, the symbol encodes 389345670000000017"
    )


def test_x_dimension_and_bar_height_per_application() -> None:
    body = (
        "^BY2,3,80^FO40,40^BCN,80,N,N,N^FD>;>800{{extra.sscc}}^FS"
        "^FO40,200^BXN,3,200,,,,_^FD{{element_string}}^FS"
    )
    check = check_label(_zpl(body, "^PW800^LL560"), SAMPLE_CASE, application="case")
    messages = {(p.kind, p.message.split(";")[0]) for p in check.problems}
    assert ("x_dimension", "X-dimension 2 dots = 0.250 mm at 203 dpi") in messages
    assert ("x_dimension", "X-dimension 3 dots = 0.375 mm at 203 dpi") in messages
    assert ("symbol_size", "bars 80 dots = 10.01 mm high") in messages
    # At 600 dpi the same 3-dot DataMatrix is far too small even for a unit.
    unit = check_label(_zpl(body, "^PW800^LL560"), SAMPLE_CASE, application="unit", dpi=600)
    assert any("0.127 mm at 600 dpi" in p.message for p in unit.problems)


def test_edge_cuts_the_quiet_zone_and_a_code_that_does_not_decode() -> None:
    label = layout_zpl(
        b"^XA^PW300^LL200^FO2,20^BQN,2,4^FDMA,hello^FS^FO150,40^GB40,40,40^FS"
        b"^FO60,60^BQN,2,4^FDMA,world^FS^XZ"
    )
    problems = check_layout(label)
    kinds = [(p.kind, p.field) for p in problems]
    assert ("quiet_zone", "QR code (line 1)") in kinds
    edge = "the label's edge cuts its quiet zone (4 modules = 16 dots)"
    assert any(p.message == edge for p in problems)
    assert ("overlap", "QR code (line 1)") in kinds


def test_escpos_layout_problems() -> None:
    text = """
[label]
codepage = "CP1258"
width_dots = 384
[[line]]
text = "Trà 中国"
[[line]]
gs1_128 = "{{element_string}}"
"""
    check = check_label(EscposTemplate.from_text(text, "e.toml"), SAMPLE_UNIT)
    by_kind = {p.kind: p for p in check.problems}
    assert "has '中国'" in by_kind["glyphs"].message
    assert "beyond the label's width of 384 dots" in by_kind["bounds"].message


def test_cli_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    template = tmp_path / "bad.zpl"
    template.write_text(
        "^XA^PW480^LL320^FO16,12^A0N,30,30^FD{{product_name}}^FS"
        "^FO300,120^BQN,2,2^FDMA,{{digital_link}}^FS^XZ",
        encoding="utf-8",
    )
    data = tmp_path / "unit.json"
    data.write_text(LabelData(product_name="Chè tuyết", gtin="8934567890120").model_dump_json())
    out = tmp_path / "label.png"
    result = runner.invoke(
        app, ["label", "check", str(template), "--data", str(data), "--out", str(out), "--json"]
    )
    assert result.exit_code == 1, result.output
    problems = json.loads(result.output)["problems"]
    assert {p["kind"] for p in problems} == {"glyphs", "x_dimension"}
    assert all(set(p) == {"kind", "field", "message"} for p in problems)
    assert Image.open(out).size == (480, 320)
    plain = runner.invoke(app, ["label", "check", str(template), "--data", str(data)])
    assert plain.exit_code == 1
    assert "2 problem(s)" in plain.output


def test_cli_bad_data_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["label", "check", "builtin:unit-60x40.zpl", "--data", "{}"])
    assert result.exit_code == 2
    assert "product_name" in result.output


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        ("^PW99999^LL99999^FO0,0^A0N,20,20^FDx^FS", "encode", "^PW must be 1-8000"),
        ("^PW400^LL300^FO0,0^BQN,2,99^FDMA,x^FS", "x_dimension", "10 dots"),
        ("^PW400^LL300^FO0,0^A0N,99999,99999^FDxy^FS", "overlap", "overlaps QR code"),
        ("^PW400^LL300^FO10,10^BXN,5,200,,,,_^FD_1019999^FS", "encode", ""),
        ("^PW400^LL300^BY99^FO10,10^BCN,99999,N,N^FDabc^FS", "bounds", "beyond the label's"),
    ],
)
def test_hostile_templates_give_problems_not_crashes(body: str, kind: str, message: str) -> None:
    template = ZplTemplate.from_text(f"^XA{body}^FO0,0^BQN,2,4^FDMA,{{{{digital_link}}}}^FS^XZ")
    check = check_label(template, SAMPLE_UNIT)
    assert any(p.kind == kind and message in p.message for p in check.problems), check.problems


def test_reference_zpl_labels_preflight_without_errors(vectors_dir: Path) -> None:
    labels = sorted((vectors_dir / "zpl" / "zebrash").glob("*.zpl"))
    assert len(labels) >= 20
    found: set[str] = set()
    for path in labels:
        for problem in check_layout(layout_zpl(path.read_bytes()), "case"):
            assert problem.field, path.name
            assert problem.message, path.name
            found.add(problem.kind)
    # Carrier labels use 2-dot bars and short GS1-128 symbols: below a case label's spec.
    assert {"x_dimension", "symbol_size"} <= found


def test_shipped_escpos_case_label_carries_the_sscc_and_count() -> None:
    template = load_template("builtin:case-58mm.toml")
    assert isinstance(template, EscposTemplate)
    check = check_label(template, SAMPLE_CASE, application="case")
    assert check.ok, check.problems
    texts = [line.value for line in template.fill(SAMPLE_CASE) if line.kind == "text"]
    assert "Số lượng: 24 đơn vị" in texts
    assert "(00) 389345670000000018" in texts
    reads = [r.text for r in zxingcpp.read_barcodes(check.image)]
    assert reads == ["https://id.gs1.org/00/389345670000000018"]
    # The HRI is checked against the SSCC in the Digital Link.
    wrong = SAMPLE_CASE.model_copy(
        update={"extra": {**SAMPLE_CASE.extra, "sscc": "389345670000000017"}}
    )
    kinds = {p.kind for p in check_label(template, wrong, application="case").problems}
    assert "gs1" in kinds
