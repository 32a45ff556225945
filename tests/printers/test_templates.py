"""ZPL and ESC/POS templates: validation messages, escaping, GS1 symbols that decode."""

from __future__ import annotations

from pathlib import Path

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.printers.label_data import LabelData
from edge.printers.templates import (
    EscposTemplate,
    TemplateError,
    ZplTemplate,
    load_template,
)
from lineside.codecs.render import Engine, render_zpl
from lineside.codecs.zpl import parse_commands

GOOD = "^XA\n^FO10,10^BXN,4,200,,,,_^FD{{element_string}}^FS\n^FO10,200^FD{{product_name}}^FS\n^XZ"


def test_examples_load(labels_dir: Path) -> None:
    for path in sorted(labels_dir.iterdir()):
        template = load_template(path)
        assert template.fields


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("^XA^FD{{lott}}^FS^XZ", "t.zpl line 1: unknown field {{lott}}"),
        ("^XA\n^FO1,1^BQN,2,4^FDMA,{{digital_link}}^FS\n", "t.zpl line 1: ^XA is never closed"),
        ("^FO1,1^FDx^FS^XZ", "t.zpl line 1: ^FO outside ^XA...^XZ"),
        ("^XA^XA^XZ", "^XA inside a format"),
        ("^XA\n^ZZ1^FS^XZ", "t.zpl line 2: unknown ZPL command ^ZZ"),
        ("^XA^FO1,1^FDhello^FS^XZ", "no GS1 code field"),
        ("^XA^BXN,4,200^FD{{element_string}}^FS^XZ", "GS1 DataMatrix needs ^BXN,h,200,,,,_"),
        ("^XA^BCN,100,Y,N,N,A^FD{{element_string}}^FS^XZ", "GS1-128 needs ^BC mode N"),
        ("^XA^BQN,2,4^FH\\^FDMA,{{digital_link}}^FS^XZ", "remove ^FH"),
        ("^XA^BQN,2,4^FDMA,{{digital link}}^FS^XZ", "malformed placeholder"),
    ],
)
def test_zpl_validation_names_file_line_field(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        ZplTemplate.from_text(text, "t.zpl")
    assert message in str(info.value)


def test_missing_required_field_named(unit: LabelData) -> None:
    t = ZplTemplate.from_text(
        "^XA\n^BQN,2,4^FDMA,{{digital_link}}^FS\n^FD{{producer}}^FS\n^XZ", "t.zpl"
    )
    with pytest.raises(TemplateError, match=r"t.zpl line 3: field \{\{producer\}\} is required"):
        t.render(unit)
    optional = ZplTemplate.from_text("^XA^BQN,2,4^FDMA,{{digital_link}}^FS^FD{{producer?}}^FS^XZ")
    assert b"^FH\\^FD^FS" in optional.render(unit)


def test_ci28_added_and_fields_hex_escaped(unit: LabelData) -> None:
    out = ZplTemplate.from_text(GOOD).render(unit)
    assert out.startswith(b"^XA^CI28")
    assert b"^FH\\^FDMi\\E1\\BA\\BFn" in out


def test_escpos_validation() -> None:
    with pytest.raises(TemplateError, match=r"e.toml line 2 \(\[\[line\]\] #1\): unknown field"):
        EscposTemplate.from_text('\n[[line]]\ntext = "{{nope}}"\n', "e.toml")
    with pytest.raises(TemplateError, match="needs exactly one of"):
        EscposTemplate.from_text('[[line]]\ntext = "a"\nqr = "b"\n', "e.toml")
    with pytest.raises(TemplateError, match="no code line"):
        EscposTemplate.from_text('[[line]]\ntext = "a"\n', "e.toml")


def test_unknown_template_type(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="expected .zpl or .toml"):
        load_template(tmp_path / "x.txt")


def test_preview_decodes_gs1_datamatrix_128_and_qr(unit: LabelData, labels_dir: Path) -> None:
    unit_label = load_template(labels_dir / "unit-60x40.zpl")
    case_label = load_template(labels_dir / "case-100x70.zpl")
    assert isinstance(unit_label, ZplTemplate)
    assert isinstance(case_label, ZplTemplate)
    sscc = "389345670000000018"
    case = unit.model_copy(update={"extra": {"sscc": sscc, "count": "24"}})
    engines: tuple[Engine, ...] = ("builtin", "auto")
    found: dict[str, set[str]] = {}
    for template, data in ((unit_label, unit), (case_label, case)):
        for engine in engines:
            image = render_zpl(template.render(data), engine=engine)
            for result in zxingcpp.read_barcodes(image):
                found.setdefault(result.symbology_identifier, set()).add(result.text)
    bracketed = unit.gs1_message().as_bracketed()
    assert found == {
        "]d2": {bracketed, f"(00){sscc}"},
        "]C1": {f"(00){sscc}"},
        "]Q1": {unit.digital_link()},
    }


def _structure(zpl: bytes) -> list[tuple[str, str]]:
    # Command names, and every parameter except field data.
    return [(c.prefix + c.name, "" if c.name == "FD" else c.text) for c in parse_commands(zpl)]


_any_text = st.text(min_size=1, max_size=40)
_cset82 = st.text(
    alphabet=st.sampled_from(
        "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(name=_any_text, producer=_any_text, origin=_any_text, lot=_cset82, serial=_cset82)
def test_arbitrary_unicode_never_changes_command_structure(
    labels_dir: Path, name: str, producer: str, origin: str, lot: str, serial: str
) -> None:
    text = (
        (labels_dir / "unit-60x40.zpl")
        .read_text()
        .replace("^XZ", "^FO1,1^FD{{producer}} {{origin}}^FS\n^XZ")
    )
    template = ZplTemplate.from_text(text)
    reference = LabelData(
        product_name="x", gtin="8934567890120", lot="L", serial="S", producer="p", origin="o"
    )
    data = LabelData(
        product_name=name,
        gtin="8934567890120",
        lot=lot,
        serial=serial,
        producer=producer,
        origin=origin,
    )
    assert _structure(template.render(data)) == _structure(template.render(reference))
