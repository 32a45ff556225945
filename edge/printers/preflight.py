"""Preflight of label templates: render a template filled with a unit's data and check it.

ZPL templates are rendered by :func:`lineside.codecs.render.layout_zpl`; ESC/POS layouts
are laid out here as a 58/80 mm printer prints them (printer font 12x24 dots, or raster
text; native QR codes; Code 128 at python-escpos's 3-dot modules). Both go through
:func:`lineside.codecs.preflight.check_layout`; ESC/POS text is also checked against the
printer profile's code pages.

Used by ``lineside label check``, ``lineside edge check-config`` (every configured
template, filled with :data:`SAMPLE_UNIT` or :data:`SAMPLE_CASE`) and the agent before a
work order starts (:func:`order_label_check`: the work order's own data and the widest
serial the line can draw); see :mod:`edge.labels`.

>>> from edge.printers.templates import load_template
>>> check = check_label(load_template("builtin:unit-60x40.zpl"), SAMPLE_UNIT)
>>> check.ok, check.problems
(True, [])
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from PIL import Image, ImageDraw, ImageFont

from edge.printers.label_data import LabelData
from edge.printers.templates import EscposTemplate, LabelTemplate
from lineside.codecs.codepages import CodePageTables
from lineside.codecs.escpos import DEFAULT_FONT, EscposLine, wrap_codepage_text
from lineside.codecs.preflight import Application, Problem, check_layout
from lineside.codecs.render import Mark, RenderedLabel, Symbology, layout_zpl, wrap_text
from lineside.contract import WorkOrder
from lineside.errors import LinesideError

#: A consumer unit with a long Vietnamese product name, a long lot and a 12-character serial.
SAMPLE_UNIT = LabelData(
    product_name="Miến dong Bắc Kạn túi 500 g - Hợp tác xã Côn Minh",
    gtin="08934567890120",
    lot="L2606-0142",
    serial="Xk7Pq2Wm9Rt4",
    production_date=date(2026, 6, 30),
    expiry=date(2027, 6, 30),
)
#: A case of 24 of those units, with its SSCC.
SAMPLE_CASE = SAMPLE_UNIT.model_copy(
    update={"serial": None, "extra": {"sscc": "389345670000000018", "count": "24", "level": "case"}}
)
#: Wide characters of GS1 character set 82: the widest serial a line can print.
_WIDE_SERIAL = "WMWMWMWMWMWMWMWMWMWM"


@dataclass(frozen=True, slots=True)
class LabelCheck:
    """A template's preflight: the label as rendered, and every problem found."""

    source: str
    image: Image.Image
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def png(self) -> bytes:
        """The rendered label as PNG bytes (what the operator screen shows)."""
        out = io.BytesIO()
        self.image.save(out, format="PNG")
        return out.getvalue()


def _field_names(template: LabelTemplate) -> dict[int, str]:
    """Template line -> the placeholders on it, so a problem names ``{{product_name}}``."""
    if isinstance(template, EscposTemplate):
        return {}
    names: dict[int, list[str]] = {}
    for slot in template.slots:
        names.setdefault(slot.line, []).append("{{" + slot.name + "}}")
    return {line: ", ".join(dict.fromkeys(n)) for line, n in names.items()}


def check_label(
    template: LabelTemplate,
    data: LabelData,
    *,
    application: Application = "unit",
    dpi: int = 203,
    profile: str = "TM-T88V",
) -> LabelCheck:
    """Fill ``template`` with ``data``, render it and list every problem."""
    try:
        if isinstance(template, EscposTemplate):
            rendered = layout_escpos(template.fill(data), template, dpi=dpi)
            problems = check_layout(rendered, application)
            problems += _codepage_problems(template, template.fill(data), profile)
        else:
            rendered = layout_zpl(template.render(data), dpi=dpi)
            problems = check_layout(rendered, application)
    except (LinesideError, ValueError) as exc:
        blank = Image.new("L", (8, 8), 255)
        return LabelCheck(template.source, blank, [Problem("encode", template.source, str(exc))])
    names = _field_names(template)
    named = [_with_field_name(p, names) for p in problems]
    return LabelCheck(template.source, rendered.image, named)


def _with_field_name(problem: Problem, names: dict[int, str]) -> Problem:
    for line, name in names.items():
        if f"(line {line})" in problem.field:
            return Problem(problem.kind, f"{name} {problem.field}", problem.message)
    return problem


# --- ESC/POS --------------------------------------------------------------------------

_LINE_H = 30  # printer font A (24 dots) and the default line spacing
_MONO = DEFAULT_FONT.with_name("DejaVuSansMono.ttf")


def _escpos_symbol(line: EscposLine) -> tuple[Image.Image, str, bool, int]:
    import numpy as np
    import zxingcpp

    if line.kind == "qr":
        symbol = zxingcpp.create_barcode(line.value, zxingcpp.BarcodeFormat.QRCode, ec_level="L")
        content, gs1, module = line.value, False, max(1, min(16, line.size))
    else:
        from lineside.gs1 import GS1Message

        content = GS1Message.parse(line.value).as_bracketed()
        symbol = zxingcpp.create_barcode(content, zxingcpp.BarcodeFormat.Code128, gs1=True)
        gs1, module = True, 3
    image = Image.fromarray(np.asarray(symbol.to_image(scale=1, add_quiet_zones=False)))
    return image.convert("L"), content, gs1, module


def layout_escpos(
    lines: list[EscposLine], template: EscposTemplate, *, dpi: int = 203
) -> RenderedLabel:
    """Lay out filled ESC/POS lines as the printer prints them, with a mark per line."""
    width = template.width_dots
    raster = template.codepage == "raster"
    marks: list[Mark] = []
    pieces: list[tuple[int, int, Image.Image]] = []
    y = 0
    for line in lines:
        if line.kind == "text":
            y = _escpos_text(line, width=width, raster=raster, y=y, marks=marks, pieces=pieces)
        elif line.kind in {"qr", "gs1_128", "datamatrix"}:
            image, content, gs1, module = _escpos_symbol(line)
            height = 64 if line.kind != "qr" else image.height * module
            image = image.resize((image.width * module, height), Image.Resampling.NEAREST)
            x = {"left": 0, "center": (width - image.width) // 2, "right": width - image.width}
            # Centred or right-aligned; a symbol wider than the paper starts at its left edge.
            left = max(0, x[line.align] if line.kind == "qr" else x["center"])
            symbology: Symbology = "qr" if line.kind == "qr" else "code128"
            quiet = (4 if symbology == "qr" else 10) * module
            box = (left, y, left + image.width, y + image.height)
            marks.append(
                Mark("symbol", line.line, box, content, symbology, gs1, module, quiet, height)
            )
            pieces.append((left, y, image))
            y += image.height + quiet
        elif line.kind == "feed":
            y += _LINE_H * max(1, line.size)
    canvas = Image.new("L", (width, max(y, 1)), 255)
    for left, top, image in pieces:
        canvas.paste(image, (left, top))
    return RenderedLabel(canvas, tuple(marks), width, max(y, 1), dpi)


def _escpos_text(
    line: EscposLine,
    *,
    width: int,
    raster: bool,
    y: int,
    marks: list[Mark],
    pieces: list[tuple[int, int, Image.Image]],
) -> int:
    value = unicodedata.normalize("NFC", line.value)  # as the encoder sends it
    if raster:
        font = ImageFont.truetype(str(DEFAULT_FONT), 22 * line.size)
        texts = wrap_text(value, font, width - 4)
        step = int(font.getbbox("Ýg")[3]) + 4
    else:
        # Printer font A drawn with a monospaced font of the same 12-dot advance.
        double = 2 if line.size > 1 else 1
        font = ImageFont.truetype(str(_MONO), 20 * double)
        texts = wrap_codepage_text(value, width, line.size)
        step = _LINE_H * double
    image = Image.new("L", (width, step * len(texts)), 255)
    draw = ImageDraw.Draw(image)
    for index, text in enumerate(texts):
        draw.text((0, index * step), text, font=font, fill=0)
    pieces.append((0, y, image))
    right = max(int(font.getlength(text)) for text in texts)
    box = (0, y, right, y + image.height)
    font_file = DEFAULT_FONT if raster else None
    marks.append(Mark("text", line.line, box, value, font=font_file, lines=tuple(texts)))
    return y + image.height


def _printable(tables: CodePageTables, char: str) -> bool:
    try:
        return tables.decode(tables.writer().write(char)) == char
    except LinesideError:  # e.g. GB18030, which only Chinese printer firmware prints
        return False


def _codepage_problems(
    template: EscposTemplate, lines: list[EscposLine], profile: str
) -> list[Problem]:
    if template.codepage == "raster":
        return []
    tables = CodePageTables.for_profile(profile)
    problems: list[Problem] = []
    for line in lines:
        if line.kind != "text":
            continue
        missing = "".join(c for c in dict.fromkeys(line.value) if not _printable(tables, c))
        if missing:
            problems.append(
                Problem(
                    "glyphs",
                    f"text {line.value[:24]!r} (line {line.line})",
                    f"no code page of printer profile {profile} has {missing!r}; "
                    'use codepage = "raster"',
                )
            )
    return problems


# --- the line: sample data and work orders ----------------------------------------------


def application_of(name: str) -> Application:
    """A template named ``case`` (or ``pallet``...) labels logistic units; others units."""
    return "case" if name.startswith(("case", "pallet")) else "unit"


def sample_for(application: Application) -> LabelData:
    return SAMPLE_CASE if application == "case" else SAMPLE_UNIT


def order_label_data(order: WorkOrder, *, resolver: str, serial_length: int = 12) -> LabelData:
    """A unit of ``order`` with the widest serial the line can draw."""
    return LabelData(
        product_name=order.product.name_vi,
        gtin=order.product.gtin,
        lot=order.lot,
        serial=_WIDE_SERIAL[:serial_length],
        production_date=order.production_date,
        expiry=order.expiry_date,
        best_before=order.best_before,
        resolver=resolver,
    )


def order_label_check(
    template: LabelTemplate,
    order: WorkOrder,
    *,
    resolver: str,
    serial_length: int = 12,
    dpi: int = 203,
) -> LabelCheck:
    """The unit label of ``order`` as it will print: the work order may start when ok."""
    data = order_label_data(order, resolver=resolver, serial_length=serial_length)
    return check_label(template, data, application="unit", dpi=dpi)
