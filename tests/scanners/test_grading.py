"""Print-quality grading on pictures the tests make: degraded symbols rank below clean
ones, parameter by parameter; the reference ZPL renderings grade; ``scanner grade``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageFilter
from typer.testing import CliRunner

from app.cli import app
from edge.scanners.grading import GRADES, SymbolGrade, grade_image

Kind = Literal["datamatrix", "qr", "code128"]
Degradation = Literal[
    "clean", "low_contrast", "blurred", "damaged", "cropped_quiet_zone", "misprinted"
]
SCALE = {"datamatrix": 8, "qr": 6, "code128": 3}
QUIET = 12  # modules of white around the symbol in the picture


def _modules(kind: Kind) -> np.ndarray:
    if kind == "datamatrix":
        text, fmt = (
            "(01)08934567890120(17)270630(21)Xk7Pq2Wm9Rt4",
            zxingcpp.BarcodeFormat.DataMatrix,
        )
        symbol = zxingcpp.create_barcode(text, fmt, gs1=True, force_square=True)
    elif kind == "qr":
        text = "https://id.gs1.org/01/08934567890120/10/L2606/21/Xk7Pq2Wm9Rt4"
        symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    else:
        text = "(00)389345670000000018"
        symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128, gs1=True)
    dark = np.asarray(symbol.to_image(scale=1, add_quiet_zones=False)) < 128
    return np.repeat(dark[:1], 40, axis=0) if kind == "code128" else dark


def picture(kind: Kind, degradation: Degradation) -> Image.Image:
    """A camera-like picture of one symbol: light paper, dark ink, a little noise."""
    dark = _modules(kind).copy()
    scale = SCALE[kind]
    if degradation == "misprinted" and kind != "code128":
        rows, cols = dark.shape
        for k in range(6 if kind == "datamatrix" else 10):  # modules spread over the symbol
            r, c = 2 + (k * 5) % (rows - 4), 2 + (k * 7) % (cols - 4)
            in_finder = (r < 9 and (c < 9 or c > cols - 9)) or (r > rows - 9 and c < 9)
            if kind == "datamatrix" or not in_finder:
                dark[r, c] = not dark[r, c]
    quiet = QUIET + 2 if kind == "code128" else QUIET
    ink = np.kron(dark, np.ones((scale, scale), dtype=bool))
    page = np.full(
        ((dark.shape[0] + 2 * quiet) * scale, (dark.shape[1] + 2 * quiet) * scale), 250.0
    )
    page[
        quiet * scale : quiet * scale + ink.shape[0], quiet * scale : quiet * scale + ink.shape[1]
    ][ink] = 20.0
    if degradation == "misprinted" and kind == "code128":
        spread = page < 128
        page[:, 1:][spread[:, :-1]] = 20.0  # ink spread: every bar a pixel wider
    if degradation == "low_contrast":
        page = 120 + (page - 20) * 80 / 230
    if degradation == "damaged":
        cy, cx, r = page.shape[0] // 2, page.shape[1] // 2, 3 * scale
        if kind == "code128":
            page[cy - r : cy + r, cx - r : cx + r : 3] = 250.0  # scratches across the bars
        else:
            page[cy - r : cy + r, cx - r : cx + r] = 250.0  # a blank patch
    if degradation == "cropped_quiet_zone":
        keep = {"datamatrix": scale // 2, "qr": scale, "code128": 3 * scale}[kind]
        page = page[:, quiet * scale - keep :]
    image = Image.fromarray(page.astype(np.uint8))
    if degradation == "blurred":
        image = image.filter(ImageFilter.GaussianBlur(scale * 0.4))
    noise = np.random.default_rng(7).normal(0, 3, (image.height, image.width))
    return Image.fromarray(np.clip(np.asarray(image, dtype=float) + noise, 0, 255).astype(np.uint8))


def _grade(kind: Kind, degradation: Degradation) -> SymbolGrade:
    grades = grade_image(picture(kind, degradation))
    assert len(grades) == 1, f"{kind} {degradation}: {len(grades)} symbols found"
    return grades[0]


def _rank(grade: str) -> int:
    return GRADES.index(grade)


#: The parameter each degradation must lower, per kind of symbol.
EXPECTED: dict[Degradation, dict[Kind, str]] = {
    "low_contrast": dict.fromkeys(("datamatrix", "qr", "code128"), "symbol_contrast"),
    "blurred": dict.fromkeys(("datamatrix", "qr", "code128"), "modulation"),
    "damaged": {
        "datamatrix": "unused_error_correction",
        "qr": "unused_error_correction",
        "code128": "decodability",
    },
    "cropped_quiet_zone": dict.fromkeys(("datamatrix", "qr", "code128"), "quiet_zone"),
    "misprinted": {
        "datamatrix": "unused_error_correction",
        "qr": "unused_error_correction",
        "code128": "decodability",
    },
}


@pytest.mark.parametrize("kind", ["datamatrix", "qr", "code128"])
def test_clean_symbols_grade_a(kind: Kind) -> None:
    grade = _grade(kind, "clean")
    assert grade.grade == "A", grade.as_dict()
    assert all(p.grade == "A" for p in grade.parameters)


@pytest.mark.parametrize("degradation", list(EXPECTED))
@pytest.mark.parametrize("kind", ["datamatrix", "qr", "code128"])
def test_degraded_symbols_rank_below_clean(kind: Kind, degradation: Degradation) -> None:
    clean = _grade(kind, "clean")
    worse = _grade(kind, degradation)
    name = EXPECTED[degradation][kind]
    assert _rank(worse.parameter(name).grade) < _rank(clean.parameter(name).grade), worse.as_dict()
    assert _rank(worse.grade) < _rank(clean.grade)
    # Parameter by parameter, nothing degraded grades better than clean.
    for parameter in worse.parameters:
        assert _rank(parameter.grade) <= _rank(clean.parameter(parameter.name).grade)


def test_grade_order_of_the_degradations() -> None:
    order = {d: _grade("qr", d).grade for d in ("clean", "damaged", "low_contrast", "blurred")}
    assert order == {"clean": "A", "damaged": "C", "low_contrast": "D", "blurred": "F"}


def test_reference_zpl_labels_grade_and_rank(vectors_dir: Path) -> None:
    folder = vectors_dir / "zpl" / "zebrash"
    graded = 0
    for path in sorted(folder.glob("*.png")):
        reference = Image.open(path).convert("L")
        symbols = grade_image(reference)
        if not symbols:
            continue
        graded += len(symbols)
        faded = Image.fromarray(
            (120 + np.asarray(reference, dtype=float) * 80 / 255).astype(np.uint8)
        )
        for clean, low in zip(symbols, grade_image(faded), strict=False):
            assert _rank(low.parameter("symbol_contrast").grade) < _rank(
                clean.parameter("symbol_contrast").grade
            ), path.name
    assert graded >= 15
    usps = grade_image(Image.open(folder / "usps.png"))
    assert [s.grade for s in usps] == ["A", "A", "A"]


def test_scanner_grade_command(tmp_path: Path) -> None:
    clean, blurred = tmp_path / "clean.png", tmp_path / "blurred.png"
    picture("datamatrix", "clean").save(clean)
    picture("datamatrix", "blurred").save(blurred)
    runner = CliRunner()
    result = runner.invoke(app, ["scanner", "grade", str(clean), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["grade"] == "A"
    assert "not a certified verification" in report["note"]
    parameters = report["symbols"][0]["parameters"]
    assert set(parameters) == {
        "symbol_contrast",
        "modulation",
        "reflectance_margin",
        "axial_nonuniformity",
        "grid_nonuniformity",
        "unused_error_correction",
        "fixed_pattern_damage",
        "quiet_zone",
    }
    assert all(set(v) == {"value", "grade"} for v in parameters.values())
    text = runner.invoke(app, ["scanner", "grade", str(blurred)])
    assert text.exit_code == 0
    assert text.output.startswith("grade ")
    assert not text.output.startswith("grade A")
    assert "modulation" in text.output
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    assert runner.invoke(app, ["scanner", "grade", str(blank)]).exit_code == 1
    assert runner.invoke(app, ["scanner", "grade", str(tmp_path / "none.png")]).exit_code == 2


#: Every picture's grades, recorded before the grading was vectorised (one reduction over
#: all the elements of a scan line, the bright level from a histogram): parameter letters
#: and values (3 decimals), parameters in name order.
RECORDED: dict[str, tuple[str, tuple[float, ...]]] = {
    "code128/blurred": ("AAACAAA", (1.0, 0.127, 0.51, 0.549, 0.0, 0.064, 0.93)),
    "code128/clean": ("AAAAAAA", (1.0, 0.034, 0.901, 0.96, 0.0, 0.057, 0.938)),
    "code128/cropped_quiet_zone": ("AAAAFAA", (1.0, 0.033, 0.901, 0.961, 0.35, 0.059, 0.938)),
    "code128/damaged": ("BAAAAAA", (0.8, 0.034, 0.9, 0.96, 0.0, 0.057, 0.938)),
    "code128/low_contrast": ("AAAAAFD", (1.0, 0.091, 0.313, 0.887, 0.0, 0.56, 0.353)),
    "code128/misprinted": ("DAAAAAA", (0.318, 0.033, 0.9, 0.959, 0.0, 0.057, 0.938)),
    "datamatrix/blurred": ("AAADADAA", (0.006, 0.0, 0.124, 0.21, 0.0, 0.21, 0.92, 1.0)),
    "datamatrix/clean": ("AAAAAAAA", (0.0, 0.0, 0.0, 0.943, 0.0, 0.943, 0.933, 1.0)),
    "datamatrix/cropped_quiet_zone": ("AAAAFAAA", (0.0, 0.0, 0.0, 0.944, 0.13, 0.944, 0.934, 1.0)),
    "datamatrix/damaged": ("AAAAAAAC", (0.0, 0.0, 0.0, 0.943, 0.0, 0.938, 0.933, 0.4)),
    "datamatrix/low_contrast": ("AAAAAADA", (0.0, 0.0, 0.0, 0.825, 0.0, 0.825, 0.349, 1.0)),
    "datamatrix/misprinted": ("AAAAAAAC", (0.0, 0.0, 0.0, 0.943, 0.0, 0.941, 0.933, 0.4)),
    "qr/blurred": ("AAAFAFAA", (0.0, 0.0, 0.166, 0.16, 0.0, 0.16, 0.927, 1.0)),
    "qr/clean": ("AAAAAAAA", (0.0, 0.0, 0.0, 0.943, 0.0, 0.943, 0.937, 1.0)),
    "qr/cropped_quiet_zone": ("AAAAFAAA", (0.0, 0.0, 0.0, 0.944, 0.208, 0.944, 0.936, 1.0)),
    "qr/damaged": ("AAAAAAAC", (0.0, 0.0, 0.0, 0.942, 0.0, 0.941, 0.937, 0.44)),
    "qr/low_contrast": ("AAAAAADA", (0.0, 0.0, 0.0, 0.807, 0.0, 0.807, 0.357, 1.0)),
    "qr/misprinted": ("AAAAAAAC", (0.0, 0.0, 0.0, 0.943, 0.0, 0.942, 0.937, 0.44)),
}


@pytest.mark.parametrize("key", list(RECORDED))
def test_grades_are_the_recorded_ones(key: str) -> None:
    kind, degradation = key.split("/")
    grade = _grade(kind, degradation)  # type: ignore[arg-type]
    parameters = sorted(grade.parameters, key=lambda p: p.name)
    letters, values = RECORDED[key]
    assert "".join(p.grade for p in parameters) == letters
    assert tuple(p.value for p in parameters) == pytest.approx(values, abs=6e-4)


def test_colour_and_grey_pictures_grade_alike() -> None:
    """A grey picture in three equal channels (the mean path) grades as the grey one
    (the 8-bit histogram path), to the last bit."""
    from edge.scanners.grading import grade_reads

    for kind in ("datamatrix", "qr", "code128"):
        grey = np.asarray(picture(kind, "blurred"))
        colour = np.repeat(grey[..., None], 3, axis=2)
        reads = zxingcpp.read_barcodes(grey, try_invert=False)
        assert reads, kind
        assert grade_reads(grey, reads) == grade_reads(colour, reads)


@pytest.mark.parametrize("q", [0.0, 5.0, 50.0, 99.5, 100.0])
def test_histogram_percentile_is_numpys(q: float) -> None:
    from edge.scanners.grading import _percentile

    rng = np.random.default_rng(3)
    for size in (1, 2, 7, 1000, 40_001):
        levels = rng.integers(0, 256, size, dtype=np.uint8).reshape(-1, 1)
        pixels = levels / 255.0
        assert _percentile(pixels, levels, q) == np.percentile(pixels, q), (size, q)
