r"""Label preflight: is a rendered label good enough to print, before it is printed?

:func:`check_layout` looks at a :class:`~lineside.codecs.render.RenderedLabel` (the image
and where each field landed) and lists every :class:`Problem`:

- ``decode``: a symbol, cut out of the label as rendered (with its quiet zone), does not
  decode to exactly the data it was given;
- ``quiet_zone``: a mark, or the label's edge, lies in a symbol's quiet zone;
- ``bounds``: a field reaches beyond the label's width or length;
- ``overlap``: text overlaps a symbol or other text, or two symbols overlap;
- ``truncated``: text does not fit its ``^FB`` block and part of it is lost;
- ``glyphs``: the font has no glyph for a character (resident printer fonts have none
  beyond Latin-1: Vietnamese needs a downloaded TrueType font);
- ``gs1``: element strings that break the GS1 syntax dictionary's rules (check digits,
  dates, character sets, associations), in a GS1 symbol or a Digital Link;
- ``hri``: human-readable ``(AI) value`` text that differs from the encoded data;
- ``x_dimension`` and ``symbol_size``: the module width, or a linear symbol's height,
  outside GS1's symbol specification for the label's application at the printer's
  resolution;
- ``encode``: the field's data cannot be encoded in its symbology at all.

>>> from lineside.codecs.render import layout_zpl
>>> label = layout_zpl(b"^XA^PW300^LL200^FO20,20^BQN,2,4^FDMA,hello^FS"
...                    b"^FO30,30^A0N,20,20^FDoops^FS^XZ")
>>> sorted({p.kind for p in check_layout(label, "unit")})
['decode', 'overlap']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFont

from lineside.codecs.render import Box, Mark, RenderedLabel, Symbology
from lineside.errors import LinesideError

ProblemKind = Literal[
    "decode",
    "quiet_zone",
    "bounds",
    "overlap",
    "truncated",
    "glyphs",
    "gs1",
    "hri",
    "x_dimension",
    "symbol_size",
    "encode",
]
#: What a label is for: a consumer unit (scanned at retail and by consumers) or a case /
#: logistic unit (scanned in distribution).
Application = Literal["unit", "case"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a label: its kind, the field it concerns and a message."""

    kind: ProblemKind
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """Allowed X-dimension (mm) and, for linear symbols, the minimum bar height (mm)."""

    min_x_mm: float
    max_x_mm: float
    min_height_mm: float = 0.0


#: X-dimensions from the GS1 General Specifications' symbol specification tables: a
#: consumer unit scanned at the point of sale and by phones (2D at 1.5 times the linear
#: X-dimension, 0.396-0.990 mm), and a logistic unit (GS1-128 0.495-0.940 mm, bars at
#: least 31.75 mm high; 2D 0.743-1.5 mm).
SYMBOL_SPECS: dict[tuple[Application, Symbology], SymbolSpec] = {
    ("unit", "datamatrix"): SymbolSpec(0.396, 0.990),
    ("unit", "qr"): SymbolSpec(0.396, 0.990),
    ("unit", "code128"): SymbolSpec(0.495, 1.016, 12.7),
    ("case", "datamatrix"): SymbolSpec(0.743, 1.5),
    ("case", "qr"): SymbolSpec(0.743, 1.5),
    ("case", "code128"): SymbolSpec(0.495, 0.940, 31.75),
}

_NAMES = {"datamatrix": "DataMatrix", "qr": "QR code", "code128": "Code 128"}
_HRI = re.compile(r"\((\d{2,4})\)[\s\u00a0]*([^\s\u00a0(]+)")
# A GS1 Digital Link: an http(s) URI with a primary key (GTIN, SSCC, GLN...) in its path.
_DIGITAL_LINK = re.compile(
    r"https?://[^/?#]+(?:/[^?#]*)?/(?:00|01|253|255|401|402|414|417|8003|8004|8006|8010|8013|8017|8018)/\d"
)
# Printer-resident fonts (^A0...^AZ) cover Latin-1 at best.
_RESIDENT = frozenset(chr(c) for c in range(0x20, 0x100))


def describe(mark: Mark) -> str:
    """How a problem names a field: its kind and the template line it came from."""
    if mark.kind == "symbol":
        name = _NAMES.get(mark.symbology, "symbol")
        return f"{'GS1 ' if mark.gs1 else ''}{name} (line {mark.line})"
    content = mark.content.replace("\u00a0", " ")
    text = content if len(content) <= 24 else content[:23] + "…"
    return f"text {text!r} (line {mark.line})"


def _intersects(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _quiet_box(mark: Mark) -> Box:
    q = mark.quiet_zone
    left, top, right, bottom = mark.box
    if mark.symbology == "code128":
        return (left - q, top, right + q, bottom)
    return (left - q, top - q, right + q, bottom + q)


def _bounds(label: RenderedLabel, mark: Mark) -> list[Problem]:
    left, top, right, bottom = mark.box
    out: list[str] = []
    if right > label.width:
        out.append(f"reaches x={right}, beyond the label's width of {label.width} dots")
    if bottom > label.height:
        out.append(f"reaches y={bottom}, beyond the label's length of {label.height} dots")
    if left < 0 or top < 0:
        out.append(f"starts at ({left},{top}), outside the label")
    return [Problem("bounds", describe(mark), m) for m in out]


def _quiet_zone(label: RenderedLabel, mark: Mark, others: list[Mark]) -> list[Problem]:
    ring = _quiet_box(mark)
    field = describe(mark)
    modules = mark.quiet_zone // max(mark.module, 1)
    need = f"{modules} modules = {mark.quiet_zone} dots"
    problems: list[Problem] = []
    if ring[0] < 0 or ring[1] < 0 or ring[2] > label.width or ring[3] > label.height:
        message = f"the label's edge cuts its quiet zone ({need})"
        problems.append(Problem("quiet_zone", field, message))
    pixels = np.asarray(label.image.convert("L"))
    x0, y0 = max(ring[0], 0), max(ring[1], 0)
    x1, y1 = min(ring[2], label.width), min(ring[3], label.height)
    area = pixels[y0:y1, x0:x1].copy()
    sx0, sy0, sx1, sy1 = mark.box
    area[max(sy0 - y0, 0) : max(sy1 - y0, 0), max(sx0 - x0, 0) : max(sx1 - x0, 0)] = 255
    if not (area < 128).any():
        return problems
    culprits = [o for o in others if o.kind != "box" and _intersects(o.box, ring)]
    who = ", ".join(describe(o) for o in culprits) or "a mark"
    problems.append(Problem("quiet_zone", field, f"{who} lies in its quiet zone ({need})"))
    return problems


def _overlaps(marks: list[Mark]) -> list[Problem]:
    problems: list[Problem] = []
    drawn = [m for m in marks if m.kind != "box" and not m.error]
    for i, a in enumerate(drawn):
        for b in drawn[i + 1 :]:
            if a.kind == "symbol" and b.kind == "symbol":
                if _intersects(a.box, b.box):
                    problems.append(Problem("overlap", describe(a), f"overlaps {describe(b)}"))
            elif _intersects(a.box, b.box):
                text, other = (a, b) if a.kind == "text" else (b, a)
                problems.append(Problem("overlap", describe(text), f"overlaps {describe(other)}"))
    return problems


@lru_cache(maxsize=8)
def _notdef(font: Path, size: int) -> tuple[tuple[int, int], bytes]:
    return _glyph(font, size, "\U000f0000")


@lru_cache(maxsize=4096)
def _glyph(font: Path, size: int, char: str) -> tuple[tuple[int, int], bytes]:
    mask = ImageFont.truetype(str(font), size).getmask(char)
    return mask.size, np.asarray(mask).tobytes() if mask.size[0] else b""


def missing_glyphs(font: Path, text: str) -> str:
    """The characters of ``text`` that ``font`` (a TrueType file) draws as its "missing"
    box, in order, once each.

    >>> from lineside.codecs.render import DEFAULT_TTF
    >>> missing_glyphs(DEFAULT_TTF, "Hợp tác xã 中")
    '中'
    """
    missing: list[str] = []
    for char in dict.fromkeys(text):
        if char.isspace() or char in missing:
            continue
        if _glyph(font, 24, char) == _notdef(font, 24):
            missing.append(char)
    return "".join(missing)


def _glyphs(mark: Mark) -> list[Problem]:
    if mark.resident_font:
        missing = "".join(c for c in dict.fromkeys(mark.content) if c not in _RESIDENT)
        hint = "a printer-resident font; use ^A@ with a downloaded TrueType font"
    elif mark.font is not None:
        missing = missing_glyphs(mark.font, mark.content)
        hint = f"font {mark.font.name}"
    else:
        return []
    if not missing:
        return []
    return [Problem("glyphs", describe(mark), f"{hint} has no glyph for {missing!r}")]


def _decode(label: RenderedLabel, mark: Mark) -> list[Problem]:
    import zxingcpp

    left, top, right, bottom = _quiet_box(mark)
    if mark.symbology == "code128":
        top, bottom = top - mark.quiet_zone, bottom + mark.quiet_zone
    # The symbol as printed with what surrounds it; beyond the label's edge is blank.
    page = Image.new("L", (right - left, bottom - top), 255)
    page.paste(label.image.convert("L"), (-left, -top))
    names = {"datamatrix": "DataMatrix", "qr": "QRCode", "code128": "Code128"}
    formats = zxingcpp.barcode_formats_from_str(names[mark.symbology])
    reads = zxingcpp.read_barcodes(page, formats=formats, try_invert=False)
    texts = [r.text for r in reads]
    field = describe(mark)
    if not reads:
        return [Problem("decode", field, "does not decode as rendered")]
    if mark.content not in texts:
        return [Problem("decode", field, f"decodes to {texts[0]!r}, not {mark.content!r}")]
    read = reads[texts.index(mark.content)]
    if mark.gs1 and read.content_type != zxingcpp.ContentType.GS1:
        return [Problem("decode", field, "decodes without GS1 FNC1: not a GS1 symbol")]
    return []


def gs1_problems(mark: Mark) -> list[Problem]:
    """Element strings that break GS1's rules, in a GS1 symbol or a Digital Link QR."""
    from lineside.gs1 import GS1Message, parse_digital_link

    try:
        if mark.gs1:
            GS1Message.parse(mark.content).validate()
        elif mark.symbology == "qr" and _DIGITAL_LINK.match(mark.content):
            parse_digital_link(mark.content)
    except LinesideError as exc:
        return [Problem("gs1", describe(mark), str(exc))]
    return []


def encoded_elements(marks: list[Mark]) -> dict[str, set[str]]:
    """Every AI carried by the label's GS1 symbols and Digital Links, with its values."""
    from lineside.gs1 import GS1Message, parse_digital_link

    found: dict[str, set[str]] = {}
    for mark in marks:
        if mark.kind != "symbol" or mark.error:
            continue
        try:
            if mark.gs1:
                message = GS1Message.parse(mark.content)
            elif mark.symbology == "qr" and _DIGITAL_LINK.match(mark.content):
                message = parse_digital_link(mark.content)
            else:
                continue
        except LinesideError:
            continue
        for element in message.elements:
            found.setdefault(element.ai, set()).add(element.value)
    return found


def _hri(mark: Mark, encoded: dict[str, set[str]]) -> list[Problem]:
    problems: list[Problem] = []
    for ai, value in _HRI.findall(mark.content):
        values = encoded.get(ai)
        if values is None:
            message = f"shows ({ai}) {value}, which no symbol on the label encodes"
        elif value not in values:
            message = f"shows ({ai}) {value}, the symbol encodes {' / '.join(sorted(values))}"
        else:
            continue
        problems.append(Problem("hri", describe(mark), message))
    return problems


def _dimensions(label: RenderedLabel, mark: Mark, application: Application) -> list[Problem]:
    spec = SYMBOL_SPECS.get((application, mark.symbology))
    if spec is None or not mark.module:
        return []
    field = describe(mark)
    mm = mark.module * 25.4 / label.dpi
    problems: list[Problem] = []
    if not spec.min_x_mm - 0.0005 <= mm <= spec.max_x_mm + 0.0005:
        problems.append(
            Problem(
                "x_dimension",
                field,
                f"X-dimension {mark.module} dots = {mm:.3f} mm at {label.dpi} dpi; GS1 "
                f"specifies {spec.min_x_mm}-{spec.max_x_mm} mm for a {application} label",
            )
        )
    height_mm = mark.bar_height * 25.4 / label.dpi
    if mark.symbology == "code128" and height_mm + 0.0005 < spec.min_height_mm:
        problems.append(
            Problem(
                "symbol_size",
                field,
                f"bars {mark.bar_height} dots = {height_mm:.2f} mm high; GS1 specifies at "
                f"least {spec.min_height_mm} mm for a {application} label",
            )
        )
    return problems


def check_layout(label: RenderedLabel, application: Application = "unit") -> list[Problem]:
    """Every problem of a rendered label (see the module docstring), in field order."""
    marks = list(label.marks)
    encoded = encoded_elements(marks)
    problems: list[Problem] = []
    for mark in marks:
        if mark.kind == "box":
            continue
        if mark.error:
            problems.append(Problem("encode", describe(mark), mark.error))
            continue
        problems += _bounds(label, mark)
        if mark.kind == "text":
            if mark.dropped:
                problems.append(
                    Problem(
                        "truncated",
                        describe(mark),
                        f"does not fit its {len(mark.lines)}-line block: {mark.dropped!r} is lost",
                    )
                )
            problems += _glyphs(mark)
            problems += _hri(mark, encoded)
            continue
        others = [o for o in marks if o is not mark]
        problems += _quiet_zone(label, mark, others)
        problems += _decode(label, mark)
        problems += gs1_problems(mark)
        problems += _dimensions(label, mark, application)
    return problems + _overlaps(marks)
