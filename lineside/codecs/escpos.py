"""ESC/POS codec, sans I/O: label bytes through python-escpos, and ``DLE EOT`` status.

Vietnamese text goes through the profile's code pages (TCVN-3 / CP1258 mid-string
where the profile has them, chosen as python-escpos does but from tables built once:
:mod:`lineside.codecs.codepages`) or, with ``text_mode="raster"`` (a layout's
``codepage = "raster"``), as a bitmap drawn with a Unicode TrueType font.

>>> parse_dle_eot({1: 0x1A, 2: 0x12, 3: 0x12, 4: 0x12}).online
False
>>> parse_dle_eot({1: 0x12, 2: 0x32, 3: 0x12, 4: 0x72}).paper_out
True
"""

from __future__ import annotations

import contextlib
import functools
import io
import textwrap
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image, ImageDraw, ImageFont

from lineside.codecs.codepages import CodePageTables
from lineside.codecs.zpl_status import PrinterStatus, StatusReplyError

DLE_EOT = b"\x10\x04"
#: The four real-time status requests, in the order the driver sends them.
STATUS_REQUESTS = (1, 2, 3, 4)
DEFAULT_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


Align = Literal["left", "center", "right"]
LineKind = Literal["text", "qr", "gs1_128", "datamatrix", "feed", "cut"]


@dataclass(frozen=True, slots=True)
class EscposLine:
    """One line of an ESC/POS layout: text, a QR code, a GS1-128 barcode or a feed."""

    kind: LineKind
    value: str = ""
    align: Align = "left"
    bold: bool = False
    size: int = 1
    line: int = 0


def status_request(n: int) -> bytes:
    """``DLE EOT n``: real-time status request ``n`` (1 printer, 2 offline, 3 error, 4 paper)."""
    if n not in STATUS_REQUESTS:
        raise ValueError(f"DLE EOT n: n must be 1-4, got {n}")
    return DLE_EOT + bytes([n])


def _check(n: int, byte: int) -> int:
    # Every DLE EOT reply has bits 1 and 4 set and bits 0 and 7 clear.
    if byte & 0x93 != 0x12:
        raise StatusReplyError(f"DLE EOT {n} reply: 0x{byte:02X} is not a status byte (0xx1xx10)")
    return byte


def parse_dle_eot(replies: dict[int, int]) -> PrinterStatus:
    """Combine the replies to ``DLE EOT 1..4`` into a :class:`PrinterStatus`."""
    missing = [n for n in STATUS_REQUESTS if n not in replies]
    if missing:
        raise StatusReplyError(f"DLE EOT: no reply to request(s) {missing}")
    printer, offline, error, paper = (_check(n, replies[n]) for n in STATUS_REQUESTS)
    return PrinterStatus(
        online=not printer & 0x08,
        head_open=bool(offline & 0x04),
        paper_out=bool(offline & 0x20) or bool(paper & 0x60),
        paused=bool(printer & 0x20) or bool(error & 0x28),
        paper_near_end=bool(paper & 0x0C),
    )


def format_dle_eot(n: int, status: PrinterStatus) -> bytes:
    """The byte a printer answers to ``DLE EOT n`` for ``status`` (for simulators)."""
    byte = 0x12
    if n == 1 and not status.online:
        byte |= 0x08
    elif n == 2:
        byte |= (0x04 if status.head_open else 0) | (0x20 if status.paper_out else 0)
        byte |= 0x40 if status.head_open or status.paper_out else 0
    elif n == 4:
        byte |= (0x60 if status.paper_out else 0) | (0x0C if status.paper_near_end else 0)
    return bytes([byte])


TextMode = Literal["codepage", "raster"]
INIT = b"\x1b@"
#: Printer font A: 12 x 24 dots a character (doubled at size 2 and more).
FONT_A_WIDTH = 12


def wrap_codepage_text(text: str, width_dots: int, size: int = 1) -> list[str]:
    """Lines of printer font A text, wrapped at spaces, as many characters as the paper
    holds (the printer itself would cut words anywhere).

    >>> wrap_codepage_text("Miến dong Bắc Kạn túi 500 g - Hợp tác xã", 384)
    ['Miến dong Bắc Kạn túi 500 g -', 'Hợp tác xã']
    """
    per_line = max(1, width_dots // (FONT_A_WIDTH * (2 if size > 1 else 1)))
    return list(_wrapped(text, per_line))


@functools.lru_cache(maxsize=1024)
def _wrapped(text: str, per_line: int) -> tuple[str, ...]:
    # Cached: a work order prints one product name on thousands of labels.
    return tuple(textwrap.wrap(text, per_line, break_on_hyphens=False)) or ("",)


@dataclass(slots=True)
class _Style:
    """What the printer is set to now, so a command is sent only when a line changes it."""

    align: str = "left"
    bold: bool = False
    size: int = 1


def _recorded(profile: str, write: Callable[[Any], None]) -> bytes:
    """The bytes python-escpos writes for one call on a fresh ``Dummy`` of ``profile``."""
    from escpos.printer import Dummy

    printer = Dummy(profile=profile)
    with contextlib.redirect_stdout(io.StringIO()):  # its barcode() prints its renderer
        write(printer)
    return bytes(printer.output)


def _barcode_data(value: str) -> str:
    # CODE128 code set B with FNC1 first (GS1-128); "{1" is FNC1 in python-escpos.
    return "{B{1" + value.replace("\x1d", "{1")


def _barcode(printer: Any, value: str) -> None:
    printer.barcode(_barcode_data(value), "CODE128", function_type="B", check=False, pos="OFF")


def _call(method: str, *args: Any, **kwargs: Any) -> Callable[[Any], None]:
    """A call of one python-escpos printer method, to record."""

    def call(printer: Any) -> None:
        getattr(printer, method)(*args, **kwargs)

    return call


@dataclass(frozen=True, slots=True)
class _Commands:
    """The commands of one printer profile as python-escpos writes them, recorded once.

    Style and cut commands depend on the profile only; a hardware GS1-128 is its recorded
    head, the length and the data; a QR code is the native ``GS ( k`` sequence, which
    python-escpos writes the same for every profile. A profile without hardware CODE128
    (python-escpos then draws the barcode as an image) has no head: its barcodes still go
    through python-escpos, one ``Dummy`` per label.
    """

    bold: dict[bool, bytes]
    align: dict[str, bytes]
    size: dict[bool, bytes]
    cut: dict[str, bytes]
    barcode_head: bytes | None

    @classmethod
    def for_profile(cls, profile: str) -> _Commands:
        def rec(write: Callable[[Any], None]) -> bytes:
            return _recorded(profile, write)

        from escpos.exceptions import Error as EscposError

        probe = "0108934567890120"
        tail = bytes((len(_barcode_data(probe)),)) + _barcode_data(probe).encode()
        try:
            recorded = rec(functools.partial(_barcode, value=probe))
        except EscposError:  # drawn as an image, and too wide for this profile's paper
            recorded = b""
        return cls(
            bold={b: rec(_call("set", bold=b)) for b in (False, True)},
            align={a: rec(_call("set", align=a)) for a in ("left", "center", "right")},
            size={
                False: rec(_call("set", normal_textsize=True)),
                True: rec(_call("set", double_width=True, double_height=True)),
            },
            cut={m: rec(_call("cut", mode=m)) for m in ("PART", "FULL")},
            barcode_head=recorded[: -len(tail)] if recorded.endswith(tail) else None,
        )

    def qr(self, content: str, size: int) -> bytes:
        """``GS ( k``: model 2, module ``size``, error correction L, store, print."""
        if not content:
            return b""  # python-escpos prints nothing for an empty QR code
        data = content.encode("utf-8")
        return b"".join(
            (
                b"\x1d(k\x04\x001A2\x00",
                b"\x1d(k\x03\x001C" + bytes((size,)),
                b"\x1d(k\x03\x001E0",
                b"\x1d(k" + (len(data) + 3).to_bytes(2, "little") + b"1P0" + data,
                b"\x1d(k\x03\x001Q0",
            )
        )

    def gs1_128(self, value: str) -> bytes | None:
        """A hardware GS1-128, or ``None`` when the profile draws barcodes as images."""
        if self.barcode_head is None:
            return None
        code = _barcode_data(value)
        return self.barcode_head + bytes((len(code),)) + code.encode()


@dataclass(frozen=True, slots=True)
class EscposEncoder:
    """Turns a filled ESC/POS layout into printer bytes.

    Code page tables are built once per encoder (not per label), and alignment, bold and
    text size are sent only when a line changes them (``ESC @`` resets them per label).

    >>> EscposEncoder().encode([EscposLine("text", "OK")])
    b'\\x1b@\\x1bt\\x00OK\\n'
    """

    profile: str = "TM-T88V"
    text_mode: TextMode = "codepage"
    font_path: Path = DEFAULT_FONT
    width_dots: int = 384
    _tables: CodePageTables = field(init=False, repr=False, compare=False)
    _commands: _Commands = field(init=False, repr=False, compare=False)
    _fonts: dict[int, ImageFont.FreeTypeFont] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tables", CodePageTables.for_profile(self.profile))
        object.__setattr__(self, "_commands", _Commands.for_profile(self.profile))

    def _font(self, size: int) -> ImageFont.FreeTypeFont:
        font = self._fonts.get(size)
        if font is None:
            if not self.font_path.is_file():
                raise FileNotFoundError(
                    f"raster text needs a TrueType font; {self.font_path} is missing "
                    "(install fonts-dejavu-core)"
                )
            font = self._fonts[size] = ImageFont.truetype(str(self.font_path), 22 * size)
        return font

    def _raster(self, text: str, size: int, bold: bool) -> Image.Image:
        from lineside.codecs.render import wrap_text

        font = self._font(size)
        lines = wrap_text(text, font, self.width_dots - 4)
        _, _, _, bottom = font.getbbox("Ýg")
        step = int(bottom) + 4
        right = max(font.getlength(line) for line in lines)
        image = Image.new("1", (min(self.width_dots, int(right) + 4), step * len(lines)), 1)
        draw = ImageDraw.Draw(image)
        for index, line in enumerate(lines):
            draw.text((2, 2 + index * step), line, font=font, fill=0, stroke_width=int(bold))
        return image

    def encode(self, lines: list[EscposLine]) -> bytes:
        """Bytes for one label: initialise, the lines in order, then feed/cut as laid out.

        The same bytes python-escpos writes, from commands recorded once per encoder
        (:class:`_Commands`); python-escpos itself is called per label only for raster text
        and for a barcode the profile draws as an image.
        """
        commands = self._commands
        text = self._tables.writer()
        style = _Style()
        out = bytearray(INIT)
        for line in lines:
            size = line.size if line.kind == "text" else 1
            if size != style.size:
                out += commands.size[size > 1]
                style.size = size
            if line.align != style.align:
                out += commands.align[line.align]
                style.align = line.align
            if line.bold != style.bold:
                out += commands.bold[line.bold]
                style.bold = line.bold
            if line.kind == "text":
                value = unicodedata.normalize("NFC", line.value)
                if self.text_mode == "raster" and not value.isascii():
                    image = self._raster(value, line.size, line.bold)
                    center = line.align == "center"
                    out += _recorded(self.profile, _call("image", image, center=center))
                else:
                    wrapped = wrap_codepage_text(value, self.width_dots, line.size)
                    out += text.write("\n".join(wrapped) + "\n")
            elif line.kind == "qr":
                out += commands.qr(line.value, max(1, min(16, line.size)))
            elif line.kind in {"gs1_128", "datamatrix"}:
                barcode = commands.gs1_128(line.value)
                if barcode is None:
                    barcode = _recorded(self.profile, functools.partial(_barcode, value=line.value))
                out += barcode
                style.align = "center"  # python-escpos centres barcodes with ESC a 1
            elif line.kind == "feed":
                out += text.write("\n" * max(1, line.size))
            elif line.kind == "cut":
                out += commands.cut["PART" if line.value.lower().startswith("part") else "FULL"]
        return bytes(out)
