"""Print-quality grades from a camera picture, sans I/O: ISO/IEC 15415-style parameters
for 2D symbols (DataMatrix, QR) and ISO/IEC 15416-style ones for linear symbols
(Code 128 / GS1-128), each graded A-F; a symbol's grade is its lowest parameter's.

These are **process-control grades**, computed from an uncalibrated camera with the
methods of the standards simplified: they show a trend on the line (a worn head, a
ribbon running out, a label slipping into the quiet zone). They are not a certified
verification, which needs a calibrated verifier, its aperture and its lighting.

2D parameters: ``symbol_contrast``, ``modulation`` and ``reflectance_margin`` (per module,
the 5th percentile), ``axial_nonuniformity``, ``grid_nonuniformity`` (from the symbol's
corners), ``unused_error_correction`` (reported by the decoder), ``fixed_pattern_damage``
(finder and timing modules printed wrong) and ``quiet_zone`` (share of the quiet zone that
is dark or outside the picture). 1D parameters, averaged over ten scan lines:
``rmin_rmax``, ``symbol_contrast``, ``edge_contrast``, ``modulation``, ``defects``,
``decodability`` and ``quiet_zone``.

>>> import zxingcpp
>>> symbol = zxingcpp.create_barcode("(01)08934567890120(21)ABC",
...                                  zxingcpp.BarcodeFormat.DataMatrix, gs1=True)
>>> grades = grade_image(np.asarray(symbol.to_image(scale=6, add_quiet_zones=True)))
>>> grades[0].grade, grades[0].parameter("symbol_contrast").grade
('A', 'A')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from PIL import Image

Grade = Literal["A", "B", "C", "D", "F"]
#: Said wherever a grade is shown.
NOTE = "process-control grade from an uncalibrated camera, not a certified verification"
GRADES: tuple[Grade, ...] = ("F", "D", "C", "B", "A")
Pixels = npt.NDArray[np.float64]

#: Lower bounds for A, B, C, D (a value below the last is F); ``None``: lower is better,
#: with the bounds as upper limits.
_HIGHER: dict[str, tuple[float, float, float, float]] = {
    "symbol_contrast_2d": (0.70, 0.55, 0.40, 0.20),
    "symbol_contrast_1d": (0.70, 0.55, 0.40, 0.20),
    "modulation_2d": (0.50, 0.40, 0.30, 0.20),
    "modulation_1d": (0.70, 0.60, 0.50, 0.40),
    "reflectance_margin": (0.50, 0.40, 0.30, 0.20),
    "unused_error_correction": (0.62, 0.50, 0.37, 0.25),
    "decodability": (0.62, 0.50, 0.37, 0.25),
}
_LOWER: dict[str, tuple[float, float, float, float]] = {
    "axial_nonuniformity": (0.06, 0.08, 0.10, 0.12),
    "grid_nonuniformity": (0.38, 0.50, 0.63, 0.75),
    "fixed_pattern_damage": (0.0, 0.02, 0.05, 0.09),
    "quiet_zone": (0.001, 0.01, 0.05, 0.10),
    "defects": (0.15, 0.20, 0.25, 0.30),
}


def letter(score: float) -> Grade:
    """A numeric grade (4 = A ... 0 = F, averages allowed) as a letter.

    >>> letter(4), letter(2.6), letter(0.4)
    ('A', 'B', 'F')
    """
    return GRADES[max(0, min(4, math.floor(score + 0.5)))]


def grade_value(kind: str, value: float) -> int:
    """The numeric grade (4 = A ... 0 = F) of a parameter's value.

    >>> grade_value("symbol_contrast_2d", 0.6), grade_value("quiet_zone", 0.2)
    (3, 0)
    """
    if kind in _HIGHER:
        bounds = _HIGHER[kind]
        return next((4 - i for i, b in enumerate(bounds) if value >= b - 1e-9), 0)
    bounds = _LOWER[kind]
    return next((4 - i for i, b in enumerate(bounds) if value <= b + 1e-9), 0)


@dataclass(frozen=True, slots=True)
class Parameter:
    """One graded parameter: its measured value and its grade."""

    name: str
    value: float
    grade: Grade


@dataclass(frozen=True, slots=True)
class SymbolGrade:
    """The grades of one symbol in a picture; :attr:`grade` is the lowest parameter's."""

    symbology: str
    text: str
    parameters: tuple[Parameter, ...]

    @property
    def grade(self) -> Grade:
        return min((p.grade for p in self.parameters), key=GRADES.index, default="F")

    def parameter(self, name: str) -> Parameter:
        return next(p for p in self.parameters if p.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbology": self.symbology,
            "text": self.text,
            "grade": self.grade,
            "parameters": {
                p.name: {"value": round(p.value, 4), "grade": p.grade} for p in self.parameters
            },
        }


def _param(name: str, kind: str, value: float) -> Parameter:
    return Parameter(name, value, GRADES[grade_value(kind, value)])


def _reflectance(image: Image.Image | npt.NDArray[Any]) -> Pixels:
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("L"))
    if image.ndim == 3:
        # The mean of the colour channels; integer sums are exact in float64, so this
        # is ``mean(axis=2)`` without its slow reduction along a 3-wide axis.
        total = image[..., 0].astype(np.float64)
        total += image[..., 1]
        total += image[..., 2]
        return np.asarray(total / 3 / 255.0)
    return np.asarray(image, dtype=np.float64) / 255.0


def _percentile(pixels: Pixels, levels: npt.NDArray[np.uint8] | None, q: float) -> float:
    """``np.percentile(pixels, q)`` (linear); from a histogram when the pixels are the
    8-bit ``levels`` divided by 255, which is an order of magnitude faster."""
    if levels is None:
        return float(np.percentile(pixels, q))
    flat = levels.ravel()
    position = q / 100 * (flat.size - 1)
    below = math.floor(position)
    cumulative = np.bincount(flat, minlength=256).cumsum()
    # The k-th smallest value (0-based) is the first level whose cumulative count > k.
    low, high = np.searchsorted(cumulative, [below, min(below + 1, flat.size - 1)], "right")
    a, b = low / 255.0, high / 255.0
    t = position - below
    # numpy's interpolation, term for term, so the result is the same float.
    return float(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)


def grade_image(
    image: Image.Image | npt.NDArray[Any], *, formats: str = "DataMatrix,QRCode,Code128"
) -> list[SymbolGrade]:
    """Find and grade every symbol in a picture (grayscale or colour)."""
    import zxingcpp

    pixels = _reflectance(image)
    gray = np.clip(pixels * 255, 0, 255).astype(np.uint8)
    reads = zxingcpp.read_barcodes(
        gray, formats=zxingcpp.barcode_formats_from_str(formats), try_invert=False
    )
    return grade_reads(gray, reads)


def grade_reads(image: Image.Image | npt.NDArray[Any], reads: list[Any]) -> list[SymbolGrade]:
    """Grade symbols a decoder already found in ``image`` (zxing-cpp results): the
    verify camera decodes each frame once and grades what it read.

    Only each symbol's neighbourhood is converted to reflectance, so a large frame costs
    little more than a small one.
    """
    import zxingcpp

    frame = np.asarray(image.convert("L")) if isinstance(image, Image.Image) else image
    grades: list[SymbolGrade] = []
    for read in reads:
        corners = _corners(read)
        x0, y0 = corners.min(axis=0)
        x1, y1 = corners.max(axis=0)
        # Room for the widest quiet zone (10 modules of Code 128) and a little more.
        margin = int(0.4 * max(x1 - x0, y1 - y0)) + 8
        left, top = max(int(x0) - margin, 0), max(int(y0) - margin, 0)
        crop = frame[top : int(y1) + margin + 1, left : int(x1) + margin + 1]
        pixels = crop if crop.dtype == np.float64 else _reflectance(crop)
        levels = crop if crop.dtype == np.uint8 and crop.ndim == 2 else None
        local = corners - np.array([left, top], dtype=np.float64)
        if read.format == zxingcpp.BarcodeFormat.Code128:
            grades.append(_grade_linear(pixels, read, local))
        else:
            grades.append(_grade_matrix(pixels, read, local, levels))
    return grades


# --- 2D -----------------------------------------------------------------------------------


def _corners(read: Any) -> npt.NDArray[np.float64]:
    p = read.position
    points = [p.top_left, p.top_right, p.bottom_right, p.bottom_left]
    return np.array([[pt.x, pt.y] for pt in points], dtype=np.float64)


def _matrix_size(read: Any) -> tuple[int, int]:
    version = str((read.extra or {}).get("Version", ""))
    if "x" in version:
        rows, cols = version.split("x")
        return int(rows), int(cols)
    size = 17 + 4 * int(version)  # QR code version
    return size, size


def _ideal(read: Any, rows: int, cols: int) -> npt.NDArray[np.bool_] | None:
    """The symbol the decoded data makes, re-encoded (dark = True), if it has the same size."""
    import zxingcpp

    options: dict[str, Any] = {"gs1": read.content_type == zxingcpp.ContentType.GS1}
    if read.format == zxingcpp.BarcodeFormat.QRCode:
        options["ec_level"] = read.ec_level
    else:
        options["force_square"] = rows == cols
    try:
        symbol = zxingcpp.create_barcode(read.text, read.format, **options)
    except (ValueError, RuntimeError):
        return None
    matrix = np.asarray(symbol.to_image(scale=1, add_quiet_zones=False)) < 128
    return matrix if matrix.shape == (rows, cols) else None


def _fixed_pattern(read: Any, rows: int, cols: int) -> npt.NDArray[np.int8]:
    """Finder and timing modules: 1 dark, 0 light, -1 not part of a fixed pattern."""
    import zxingcpp

    fixed = np.full((rows, cols), -1, dtype=np.int8)
    if read.format == zxingcpp.BarcodeFormat.QRCode:
        finder = np.zeros((7, 7), dtype=np.int8)
        finder[[0, 6], :] = finder[:, [0, 6]] = 1
        finder[2:5, 2:5] = 1
        for top, left in ((0, 0), (0, cols - 7), (rows - 7, 0)):
            fixed[top : top + 7, left : left + 7] = finder
        fixed[6, 8 : cols - 8] = (np.arange(8, cols - 8) % 2 == 0).astype(np.int8)
        fixed[8 : rows - 8, 6] = (np.arange(8, rows - 8) % 2 == 0).astype(np.int8)
    else:  # DataMatrix: solid L on the left and bottom, clock track on top and right
        fixed[:, 0] = 1
        fixed[rows - 1, :] = 1
        fixed[0, :] = (np.arange(cols) % 2 == 0).astype(np.int8)
        fixed[:, cols - 1] = ((rows - 1 - np.arange(rows)) % 2 == 0).astype(np.int8)
    return fixed


def _module_centres(corners: npt.NDArray[np.float64], rows: int, cols: int) -> Pixels:
    """Image coordinates (x, y) of every module's centre, by bilinear interpolation."""
    tl, tr, br, bl = corners
    # Corners are the outermost pixels; the symbol's edges lie half a pixel beyond.
    centre = corners.mean(axis=0)
    tl, tr, br, bl = (c + 0.5 * np.sign(c - centre) for c in (tl, tr, br, bl))
    u = (np.arange(cols) + 0.5) / cols
    v = (np.arange(rows) + 0.5) / rows
    uu, vv = np.meshgrid(u, v)
    top = tl[None, None, :] + (tr - tl)[None, None, :] * uu[..., None]
    bottom = bl[None, None, :] + (br - bl)[None, None, :] * uu[..., None]
    return np.asarray(top + (bottom - top) * vv[..., None])


def _sample(pixels: Pixels, centres: Pixels, radius: int) -> Pixels:
    h, w = pixels.shape
    xs = np.clip(np.rint(centres[..., 0] - 0.5).astype(int), 0, w - 1)
    ys = np.clip(np.rint(centres[..., 1] - 0.5).astype(int), 0, h - 1)
    total = np.zeros(xs.shape)
    count = 0
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            total += pixels[np.clip(ys + dy, 0, h - 1), np.clip(xs + dx, 0, w - 1)]
            count += 1
    return np.asarray(total / count)


def _band_share(pixels: Pixels, inner: tuple[int, int, int, int], margin: int, gt: float) -> float:
    """Share of the band ``margin`` wide around ``inner`` (x0, y0, x1, y1) that is dark,
    or outside the picture."""
    h, w = pixels.shape
    ox0, oy0, ox1, oy1 = inner[0] - margin, inner[1] - margin, inner[2] + margin, inner[3] + margin
    band = np.ones((oy1 - oy0, ox1 - ox0), dtype=bool)
    band[inner[1] - oy0 : inner[3] - oy0, inner[0] - ox0 : inner[2] - ox0] = False
    area = int(band.sum())
    if area == 0:
        return 0.0
    bad = band.copy()  # outside the picture until seen
    x0, y0, x1, y1 = max(ox0, 0), max(oy0, 0), min(ox1, w), min(oy1, h)
    if x1 > x0 and y1 > y0:
        seen = bad[y0 - oy0 : y1 - oy0, x0 - ox0 : x1 - ox0]
        seen &= pixels[y0:y1, x0:x1] < gt
    return int(bad.sum()) / area


def _grade_matrix(
    pixels: Pixels,
    read: Any,
    corners: npt.NDArray[np.float64],
    levels: npt.NDArray[np.uint8] | None = None,
) -> SymbolGrade:
    """``levels``: the 8-bit grey levels ``pixels`` were made from, when they were."""
    import zxingcpp

    rows, cols = _matrix_size(read)
    tl, tr, br, bl = corners
    x_step = (float(np.linalg.norm(tr - tl)) + 1) / cols
    y_step = (float(np.linalg.norm(bl - tl)) + 1) / rows
    module = (x_step + y_step) / 2
    centres = _module_centres(corners, rows, cols)
    samples = _sample(pixels, centres, max(0, int(module * 0.2)))
    quiet_modules = 4 if read.format == zxingcpp.BarcodeFormat.QRCode else 1
    margin = round(quiet_modules * module)
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0) + 1
    ring = (
        slice(max(int(y0) - margin, 0), int(y1) + margin),
        slice(max(int(x0) - margin, 0), int(x1) + margin),
    )
    bright = _percentile(pixels[ring], None if levels is None else levels[ring], 99.5)
    r_max = float(max(samples.max(), bright))
    r_min = float(samples.min())
    sc = max(r_max - r_min, 1e-6)
    gt = (r_max + r_min) / 2
    dark = samples < gt
    ideal = _ideal(read, rows, cols)
    fixed = _fixed_pattern(read, rows, cols)
    # The re-encoded symbol is the reference only if it is the printed one (another
    # encoder may choose another mask or encodation); else the modules' own colours are.
    same = ideal is not None and float((ideal != dark).mean()) < 0.1
    expected = ideal if same and ideal is not None else dark
    margin_values = np.where(expected, gt - samples, samples - gt) * 2 / sc
    modulation = np.abs(samples - gt) * 2 / sc
    in_fixed = fixed >= 0
    fixed_wrong = float((dark[in_fixed] != (fixed[in_fixed] == 1)).mean())
    parallelogram = tl + (tr - tl) + (bl - tl)
    uec = float((read.extra or {}).get("UEC", 0.0))
    quiet = _band_share(pixels, (int(x0), int(y0), int(x1), int(y1)), margin, gt)
    params = (
        _param("symbol_contrast", "symbol_contrast_2d", sc),
        _param("modulation", "modulation_2d", float(np.percentile(modulation, 5))),
        _param("reflectance_margin", "reflectance_margin", float(np.percentile(margin_values, 5))),
        _param("axial_nonuniformity", "axial_nonuniformity", abs(x_step - y_step) / module),
        _param(
            "grid_nonuniformity",
            "grid_nonuniformity",
            float(np.linalg.norm(parallelogram - br)) / module,
        ),
        _param("unused_error_correction", "unused_error_correction", uec),
        _param("fixed_pattern_damage", "fixed_pattern_damage", fixed_wrong),
        _param("quiet_zone", "quiet_zone", quiet),
    )
    return SymbolGrade(_symbology(read), read.text, params)


def _symbology(read: Any) -> str:
    import zxingcpp

    names = {
        zxingcpp.BarcodeFormat.DataMatrix: "datamatrix",
        zxingcpp.BarcodeFormat.QRCode: "qr",
        zxingcpp.BarcodeFormat.Code128: "code128",
    }
    return names.get(read.format, str(read.format))


# --- 1D -----------------------------------------------------------------------------------


def _ideal_widths(read: Any) -> list[int] | None:
    """Element widths in modules, bar first, of the symbol the decoded data makes."""
    import zxingcpp

    gs1 = read.content_type == zxingcpp.ContentType.GS1
    try:
        symbol = zxingcpp.create_barcode(read.text, read.format, gs1=gs1)
    except (ValueError, RuntimeError):
        return None
    row = np.asarray(symbol.to_image(scale=1, add_quiet_zones=False))[0] < 128
    return _runs(row)


def _runs(dark: npt.NDArray[np.bool_]) -> list[int]:
    widths: list[int] = np.diff(_run_bounds(dark)).tolist()
    return widths


def _run_bounds(dark: npt.NDArray[np.bool_]) -> npt.NDArray[np.intp]:
    """Where each run of equal values starts, and the end: ``[0, ..., len(dark)]``."""
    edges = np.flatnonzero(dark[1:] != dark[:-1]) + 1
    return np.concatenate(([0], edges, [len(dark)]))


def _scan_line(
    profile: Pixels, start: int, end: int, module: float, ideal: list[int] | None
) -> dict[str, float]:
    """15416-style measurements of one scan reflectance profile.

    ``profile`` spans the symbol and both quiet zones; ``start:end`` is the symbol.
    Every element is measured at once (``reduceat`` over the element bounds).
    """
    r_max, r_min = float(profile.max()), float(profile.min())
    sc = max(r_max - r_min, 1e-6)
    gt = (r_max + r_min) / 2
    dark = profile < gt
    dark[:start] = False
    dark[end:] = False
    bounds = _run_bounds(dark)
    starts, stops = bounds[:-1], bounds[1:]
    widths = stops - starts
    # A bar's extreme is its darkest point, a space's its lightest.
    lows = np.minimum.reduceat(profile, starts)
    highs = np.maximum.reduceat(profile, starts)
    extremes = np.where(dark[starts], lows, highs)
    ec_min = float(np.abs(np.diff(extremes)).min()) if len(extremes) > 1 else 0.0
    ern = 0.0
    if len(widths) > 2:
        # Element reflectance non-uniformity of the inner elements, without their edge
        # pixels when they are wider than two.
        inner = slice(1, -1)
        trim = (widths[inner] > 2).astype(np.intp)
        pairs = np.stack((starts[inner] + trim, stops[inner] - trim), axis=1).ravel()
        core_max = np.maximum.reduceat(profile, pairs)[::2]
        core_min = np.minimum.reduceat(profile, pairs)[::2]
        ern = float((core_max - core_min).max())
    symbol_widths = widths[1:-1]  # without the quiet zones
    if ideal is None or len(symbol_widths) != len(ideal):
        # Another encoder's symbol (other code sets): Code 128 has 6 elements and 11
        # modules a character, 7 and 13 for the stop; each element against its nearest
        # whole module count.
        chars = max(1, (len(symbol_widths) - 7) // 6)
        module = int(symbol_widths.sum()) / (11 * chars + 13)
        expected = np.maximum(1, np.rint(symbol_widths / module))
    else:
        expected = np.asarray(ideal, dtype=np.float64)
    deviation = float(np.abs(symbol_widths / module - expected).max()) if len(expected) else 0.5
    decodability = max(0.0, 1 - 2 * deviation)
    quiet = round(10 * module)
    zones = np.concatenate([profile[max(start - quiet, 0) : start], profile[end : end + quiet]])
    missing = max(0, quiet - start) + max(0, end + quiet - len(profile))
    quiet_share = (float((zones < gt).sum()) + missing) / (2 * quiet)
    return {
        "rmin_rmax": r_min / max(r_max, 1e-6),
        "symbol_contrast": sc,
        "edge_contrast": ec_min,
        "modulation": ec_min / sc,
        "defects": ern / sc,
        "decodability": decodability,
        "quiet_zone": quiet_share,
    }


def _grade_scan(values: dict[str, float]) -> dict[str, int]:
    return {
        "rmin_rmax": 4 if values["rmin_rmax"] <= 0.5 else 0,
        "symbol_contrast": grade_value("symbol_contrast_1d", values["symbol_contrast"]),
        "edge_contrast": 4 if values["edge_contrast"] >= 0.15 else 0,
        "modulation": grade_value("modulation_1d", values["modulation"]),
        "defects": grade_value("defects", values["defects"]),
        "decodability": grade_value("decodability", values["decodability"]),
        "quiet_zone": grade_value("quiet_zone", values["quiet_zone"]),
    }


def _grade_linear(pixels: Pixels, read: Any, corners: npt.NDArray[np.float64]) -> SymbolGrade:
    x0 = int(corners[:, 0].min())
    x1 = int(corners[:, 0].max()) + 1
    y0, y1 = corners[:, 1].min(), corners[:, 1].max()
    ideal = _ideal_widths(read)
    modules = sum(ideal) if ideal else 11 * 10
    module = (x1 - x0) / modules
    quiet = round(10 * module)
    left = max(x0 - quiet, 0)
    right = min(x1 + quiet, pixels.shape[1])
    scans: list[dict[str, float]] = []
    for k in range(10):
        y = round(y0 + (y1 - y0) * (0.1 + 0.8 * k / 9))
        rows = pixels[max(y - 1, 0) : y + 2, left:right]
        profile = rows.mean(axis=0)
        scans.append(_scan_line(profile, x0 - left, x1 - left, module, ideal))
    graded = [_grade_scan(s) for s in scans]
    params = tuple(
        Parameter(
            name,
            float(np.mean([s[name] for s in scans])),
            letter(float(np.mean([g[name] for g in graded]))),
        )
        for name in graded[0]
    )
    return SymbolGrade(_symbology(read), read.text, params)
