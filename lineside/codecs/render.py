r"""Render ZPL to an image without a printer: for previews, preflight and simulated cameras.

zplkit (an optional extra, OSL-3.0) is used when installed and able to render the
label; otherwise a minimal renderer draws the commands Lineside templates use:
``^FO``/``^FT``, ``^A``/``^A@`` text (Pillow, with a Unicode TTF), ``^FB`` blocks (word
wrap, at most the block's lines: what does not fit is dropped and reported), ``^GB``
boxes, and ``^BX`` (GS1 DataMatrix), ``^BC`` (Code 128 / GS1-128) and ``^BQ`` (QR)
through zxing-cpp's writer, so the barcodes decode like the printed ones.

:func:`layout_zpl` also returns where every field landed (:class:`Mark`): what the label
preflight checks.

>>> img = render_zpl(b"^XA^PW200^LL100^FO10,10^BQN,2,3^FDMA,hello^FS^XZ", engine="builtin")
>>> img.size
(200, 100)
>>> [(m.symbology, m.module, m.content) for m in layout_zpl(
...     b"^XA^PW200^LL100^FO10,10^BQN,2,3^FDMA,hello^FS^XZ").marks]
[('qr', 3, 'hello')]
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from lineside.codecs.zpl import ZplCommand, parse_commands, unescape_field
from lineside.errors import InvalidInput, LinesideError

logger = logging.getLogger(__name__)

DEFAULT_TTF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
Engine = Literal["auto", "zplkit", "builtin"]
Symbology = Literal["datamatrix", "qr", "code128", ""]
#: Required quiet zone of each symbology, in modules (GS1 General Specifications).
QUIET_ZONE_MODULES: dict[str, int] = {"datamatrix": 1, "qr": 4, "code128": 10}
Box = tuple[int, int, int, int]
_SYMBOLOGIES: dict[str, Symbology] = {"BX": "datamatrix", "BC": "code128", "BQ": "qr"}
#: Largest label drawn (dots): 8 inches wide at 1,000 dpi, and twice as long.
MAX_WIDTH, MAX_HEIGHT = 8000, 16000


def _params(text: str, count: int) -> list[str]:
    parts = text.split(",")
    return [p.strip() for p in parts] + [""] * max(0, count - len(parts))


def _int(text: str, default: int) -> int:
    try:
        return int(float(text))
    except ValueError:
        return default


def _datamatrix_text(data: str) -> tuple[str, bool]:
    """Turn ^BX escape sequences (``_1`` FNC1, ``__``) into zxing-cpp input."""
    if not data.startswith("_1"):
        return data.replace("__", "_"), False
    out: list[str] = []
    i = 2
    while i < len(data):
        if data.startswith("_1", i):
            out.append("\x1d")
            i += 2
        elif data.startswith("__", i):
            out.append("_")
            i += 2
        else:
            out.append(data[i])
            i += 1
    return _to_bracketed("".join(out)), True


def _code128_text(data: str) -> tuple[str, bool]:
    """Decode ^BC mode-N invocations into plain text (GS for FNC1) and whether GS1."""
    out: list[str] = []
    gs1 = False
    i = 0
    specials = {"0": ">", "<": "^", "=": "~"}
    while i < len(data):
        if data[i] == ">" and i + 1 < len(data):
            code = data[i + 1]
            if code == "8":
                if out:
                    out.append("\x1d")
                else:
                    gs1 = True
            elif code in specials:
                out.append(specials[code])
            i += 2
            continue
        out.append(data[i])
        i += 1
    text = "".join(out)
    return (_to_bracketed(text), True) if gs1 else (text, False)


def _to_bracketed(raw: str) -> str:
    from lineside.gs1 import GS1Message

    return GS1Message.parse(raw).as_bracketed()


def _barcode(text: str, kind: str, gs1: bool) -> Image.Image:
    import numpy as np
    import zxingcpp

    formats = {
        "BX": zxingcpp.BarcodeFormat.DataMatrix,
        "BC": zxingcpp.BarcodeFormat.Code128,
        "BQ": zxingcpp.BarcodeFormat.QRCode,
    }
    # ZPL ^BX draws square symbols unless told otherwise; zxing-cpp prefers rectangles.
    extra = {"force_square": True} if kind == "BX" else {}
    barcode = zxingcpp.create_barcode(text, formats[kind], gs1=gs1, **extra)
    image = barcode.to_image(scale=1, add_quiet_zones=False)
    return Image.fromarray(np.asarray(image)).convert("L")


@dataclass(frozen=True, slots=True)
class Mark:
    """One field as the renderer placed it: text, a symbol or a box.

    ``box`` is ``(left, top, right, bottom)`` in dots (right and bottom exclusive) and may
    reach beyond the label: that is what the preflight reports. For a symbol,
    ``content`` is the data given to the encoder (bracketed element strings when
    ``gs1``), ``module`` its X-dimension in dots and ``quiet_zone`` the clear margin
    it needs, in dots. For text, ``lines`` are the lines drawn and ``dropped`` what did
    not fit its ``^FB`` block.
    """

    kind: Literal["text", "symbol", "box"]
    line: int
    box: Box
    content: str = ""
    symbology: Symbology = ""
    gs1: bool = False
    module: int = 0
    quiet_zone: int = 0
    bar_height: int = 0
    font: Path | None = None
    #: A printer-resident font (``^A0``...), as opposed to a downloaded TrueType font.
    resident_font: bool = False
    lines: tuple[str, ...] = ()
    dropped: str = ""
    #: Why the field could not be drawn (bad barcode data...), else empty.
    error: str = ""


@dataclass(frozen=True, slots=True)
class RenderedLabel:
    """A rendered label and where each of its fields landed."""

    image: Image.Image
    marks: tuple[Mark, ...]
    width: int
    height: int
    dpi: int = 203


def wrap_text(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` dots: at spaces, at ``\\&``
    and line breaks, and inside a word only when the word alone is too wide.

    >>> f = ImageFont.truetype(str(DEFAULT_TTF), 20)
    >>> wrap_text("một hai ba", f, 80)
    ['một hai', 'ba']
    """
    lines: list[str] = []
    for paragraph in text.replace("\\&", "\n").split("\n"):
        current = ""
        for word in paragraph.split(" "):
            candidate = f"{current} {word}" if current else word
            if font.getlength(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            current = ""
            for char in word:
                if current and font.getlength(current + char) > width:
                    lines.append(current)
                    current = ""
                current += char
        lines.append(current)
    return lines


@dataclass(slots=True)
class _Painter:
    """Draws one label, command by command, and records a :class:`Mark` per field."""

    fonts: Mapping[str, Path]
    width: int
    height: int
    canvas: Image.Image = field(init=False)
    draw: ImageDraw.ImageDraw = field(init=False)
    marks: list[Mark] = field(default_factory=list)
    x: int = 0
    y: int = 0
    home: tuple[int, int] = (0, 0)
    font_h: int = 20
    font_file: Path = DEFAULT_TTF
    resident: bool = True
    block: tuple[int, int] | None = None
    barcode: tuple[str, list[str]] | None = None
    hex_mode: bool = False
    module: int = 2
    bar_height: int = 100

    def __post_init__(self) -> None:
        self.font_file = self.fonts.get("0", DEFAULT_TTF)
        self.canvas = Image.new("L", (self.width, self.height), 255)
        self.draw = ImageDraw.Draw(self.canvas)

    def feed(self, command: ZplCommand) -> None:
        name, text = command.name, command.text
        if name == "LH":
            hx, hy = _params(text, 2)[:2]
            self.home = (_int(hx, 0), _int(hy, 0))
        elif name in {"FO", "FT"}:
            fx, fy = _params(text, 2)[:2]
            self.x, self.y = self.home[0] + _int(fx, 0), self.home[1] + _int(fy, 0)
        elif name == "BY":
            params = _params(text, 3)
            self.module = min(10, max(1, _int(params[0], 2)))  # ^BY: 1-10 dots
            self.bar_height = min(self.height, max(1, _int(params[2], self.bar_height)))
        elif name in {"A", "CF"}:
            self._font(name, _params(text, 4))
        elif name == "FB":
            params = _params(text, 2)
            self.block = (_int(params[0], 0), max(1, _int(params[1], 1)))
        elif name == "FH":
            self.hex_mode = True
        elif name in {"BX", "BC", "BQ"}:
            self.barcode = (name, _params(text, 8))
        elif name == "GB":
            w, h, t = (max(_int(p, 1), 1) for p in _params(text, 3)[:3])
            box = (self.x, self.y, self.x + w, self.y + h)
            self.draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=0, width=t)
            self.marks.append(Mark("box", command.line, box))
        elif name == "FD":
            raw = unescape_field(command.params) if self.hex_mode else command.params
            data = raw.decode("utf-8", "replace")
            if self.barcode is None:
                self._text(data, command.line)
            else:
                self._symbol(data, command.line)
        elif name == "FS":
            self.barcode, self.hex_mode, self.block = None, False, None

    def _font(self, name: str, params: list[str]) -> None:
        # ZPL allows 32,000 dots; a preview stops at 1,000 (5 inches at 203 dpi).
        self.font_h = min(max(_int(params[1], self.font_h), 1), 1000, self.height)
        if name == "A":
            self.resident = not params[0].startswith("@")
            key = params[3].upper() if not self.resident else "0"
            self.font_file = self.fonts.get(key, DEFAULT_TTF)

    def _text(self, data: str, line: int) -> None:
        font = ImageFont.truetype(str(self.font_file), max(6, self.font_h))
        dropped = ""
        if self.block is not None and self.block[0] > 0:
            lines = wrap_text(data, font, self.block[0])
            kept = lines[: self.block[1]]
            dropped = " ".join(lines[len(kept) :])
            right = self.x + self.block[0]
        else:
            kept = [data]
            right = self.x
        for offset, text in enumerate(kept):
            self.draw.text((self.x, self.y + offset * self.font_h), text, font=font, fill=0)
            right = max(right, self.x + int(font.getlength(text) + 0.999))
        if self.block is not None and self.block[0] > 0:
            right = max(right, self.x + self.block[0])
        bottom = self.y + len(kept) * self.font_h
        self.marks.append(
            Mark(
                "text",
                line,
                (self.x, self.y, right, bottom),
                content=data,
                font=self.font_file,
                resident_font=self.resident,
                lines=tuple(kept),
                dropped=dropped,
            )
        )

    def _symbol(self, data: str, line: int) -> None:
        assert self.barcode is not None
        kind, params = self.barcode
        symbology = _SYMBOLOGIES[kind]
        if kind == "BX":
            scale = min(100, max(1, _int(params[1], 4)))  # ^BX element height, dots
        elif kind == "BC":
            scale = self.module
        else:
            scale = min(10, max(1, _int(params[2], 3)))  # ^BQ magnification 1-10
        quiet = QUIET_ZONE_MODULES[symbology] * scale
        try:
            if kind == "BX":
                content, gs1 = _datamatrix_text(data)
            elif kind == "BC":
                content, gs1 = _code128_text(data)
            else:
                content, gs1 = data.split(",", 1)[-1], False
            symbol = _barcode(content, kind, gs1)
        except (LinesideError, ValueError) as exc:
            box = (self.x, self.y, self.x + 1, self.y + 1)
            self.marks.append(
                Mark("symbol", line, box, data, symbology, module=scale, error=str(exc))
            )
            return
        bar_h = 0
        if kind == "BC":
            bar_h = min(self.height, max(1, _int(params[1], self.bar_height)))
            size = (symbol.width * scale, bar_h)
        else:
            size = (symbol.width * scale, symbol.height * scale)
        symbol = symbol.resize(size, Image.Resampling.NEAREST)
        self.canvas.paste(symbol, (self.x, self.y))
        box = (self.x, self.y, self.x + size[0], self.y + size[1])
        self.marks.append(
            Mark("symbol", line, box, content, symbology, gs1, scale, quiet, bar_height=bar_h)
        )


def _size(commands: list[ZplCommand], width: int, height: int) -> tuple[int, int]:
    for command in commands:
        if command.name == "PW":
            width = _int(command.text, width)
        elif command.name == "LL":
            height = _int(command.text, height)
    if not (1 <= width <= MAX_WIDTH and 1 <= height <= MAX_HEIGHT):
        raise InvalidInput(
            f"label size {width}x{height} dots: ^PW must be 1-{MAX_WIDTH}, ^LL 1-{MAX_HEIGHT}"
        )
    return width, height


def layout_zpl(
    zpl: bytes,
    *,
    fonts: Mapping[str, Path] | None = None,
    width: int = 812,
    height: int = 1218,
    dpi: int = 203,
) -> RenderedLabel:
    """Render the first label of ``zpl`` with the builtin renderer, keeping every mark.

    ``^PW`` and ``^LL`` in the label override ``width`` and ``height``.
    """
    fonts = dict(fonts or {})
    fonts.setdefault("E:DEJAVU.TTF", DEFAULT_TTF)
    commands = parse_commands(zpl)
    width, height = _size(commands, width, height)
    painter = _Painter(fonts, width, height)
    for command in commands:
        painter.feed(command)
        if command.name == "XZ":
            break
    return RenderedLabel(painter.canvas, tuple(painter.marks), width, height, dpi)


def render_zpl(
    zpl: bytes,
    *,
    fonts: Mapping[str, Path] | None = None,
    engine: Engine = "auto",
    width: int = 812,
    height: int = 1218,
    dpi: int = 203,
) -> Image.Image:
    """Render the first label of ``zpl`` to a grayscale image.

    ``fonts`` maps printer font names (``E:DEJAVU.TTF``) to local TTF files for the
    builtin renderer; ``engine="auto"`` tries zplkit first and falls back.
    """
    if engine in {"auto", "zplkit"}:
        try:
            import zplkit

            document = zplkit.render(
                zpl, options=zplkit.Options(width=width, height=height, dpi=dpi)
            )
            return Image.open(io.BytesIO(document.labels[0].png())).convert("L")
        except ImportError:
            if engine == "zplkit":
                raise
        except Exception as exc:  # zplkit raises on glyphs and commands it lacks
            if engine == "zplkit":
                raise
            logger.debug("zplkit could not render (%s); using the builtin renderer", exc)
    return layout_zpl(zpl, fonts=fonts, width=width, height=height, dpi=dpi).image
