r"""Render ZPL to an image without a printer: for previews and simulated cameras.

zplkit (an optional extra, OSL-3.0) is used when installed and able to render the
label; otherwise a minimal renderer draws the commands Lineside templates use:
``^FO``/``^FT``, ``^A``/``^A@`` text (Pillow, with a Unicode TTF), ``^FB`` wrapping,
``^GB`` boxes, and ``^BX`` (GS1 DataMatrix), ``^BC`` (Code 128 / GS1-128) and ``^BQ``
(QR) through zxing-cpp's writer, so the barcodes decode like the printed ones.

>>> img = render_zpl(b"^XA^PW200^LL100^FO10,10^BQN,2,3^FDMA,hello^FS^XZ", engine="builtin")
>>> img.size
(200, 100)
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from lineside.codecs.zpl import parse_commands, unescape_field

logger = logging.getLogger(__name__)

DEFAULT_TTF = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
Engine = Literal["auto", "zplkit", "builtin"]


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


def _builtin(zpl: bytes, fonts: Mapping[str, Path], width: int, height: int) -> Image.Image:
    commands = parse_commands(zpl)
    for command in commands:
        if command.name == "PW":
            width = _int(command.text, width)
        elif command.name == "LL":
            height = _int(command.text, height)
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    x = y = 0
    home_x = home_y = 0
    font_h = 20
    font_file: Path = fonts.get("0", DEFAULT_TTF)
    block_width: int | None = None
    barcode: tuple[str, list[str]] | None = None
    hex_mode = False
    module = 2
    for command in commands:
        name, text = command.name, command.text
        if name == "LH":
            hx, hy = _params(text, 2)[:2]
            home_x, home_y = _int(hx, 0), _int(hy, 0)
        elif name in {"FO", "FT"}:
            fx, fy = _params(text, 2)[:2]
            x, y = home_x + _int(fx, 0), home_y + _int(fy, 0)
        elif name == "BY":
            module = max(1, _int(_params(text, 1)[0], 2))
        elif name in {"A", "CF"}:
            params = _params(text, 4)
            if name == "A":
                font_h = _int(params[1], font_h)
                if params[0].startswith("@"):
                    font_file = fonts.get(params[3].upper(), DEFAULT_TTF)
                else:
                    font_file = fonts.get("0", DEFAULT_TTF)
            else:
                font_h = _int(params[1], font_h)
        elif name == "FB":
            block_width = _int(_params(text, 1)[0], 0) or None
        elif name == "FH":
            hex_mode = True
        elif name in {"BX", "BC", "BQ"}:
            barcode = (name, _params(text, 8))
        elif name == "GB":
            w, h, t = (_int(p, 1) for p in _params(text, 3)[:3])
            draw.rectangle([x, y, x + max(w, 1) - 1, y + max(h, 1) - 1], outline=0, width=t)
        elif name == "FD":
            raw = unescape_field(command.params) if hex_mode else command.params
            data = raw.decode("utf-8", "replace")
            if barcode is None:
                font = ImageFont.truetype(str(font_file), max(6, font_h))
                lines = data.split("\\&") if block_width else [data]
                for offset, line in enumerate(lines):
                    draw.text((x, y + offset * font_h), line, font=font, fill=0)
            else:
                kind, params = barcode
                if kind == "BX":
                    content, gs1 = _datamatrix_text(data)
                    scale = max(1, _int(params[1], 4))
                elif kind == "BC":
                    content, gs1 = _code128_text(data)
                    scale = module
                else:
                    content, gs1 = data.split(",", 1)[-1], False
                    scale = max(1, _int(params[2], 3))
                symbol = _barcode(content, kind, gs1)
                if kind == "BC":
                    bar_h = _int(params[1], 100)
                    symbol = symbol.resize((symbol.width * scale, bar_h), Image.Resampling.NEAREST)
                else:
                    symbol = symbol.resize(
                        (symbol.width * scale, symbol.height * scale), Image.Resampling.NEAREST
                    )
                canvas.paste(symbol, (x, y))
        elif name == "FS":
            barcode, hex_mode, block_width = None, False, None
    return canvas


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
    fonts = dict(fonts or {})
    fonts.setdefault("E:DEJAVU.TTF", DEFAULT_TTF)
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
    return _builtin(zpl, fonts, width, height)
