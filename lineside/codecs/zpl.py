r"""ZPL II codec, sans I/O: field-data escaping, GS1 barcode data and a command tokenizer.

Field data is always hex-escaped with ``^FH\`` so no data can inject a command:
``^``, ``~``, ``\``, ``_``, control characters and every non-ASCII character become
``\XX`` UTF-8 bytes (printed correctly under ``^CI28``).

>>> escape_text("A^B~C é")
'A\\5EB\\7EC \\C3\\A9'
>>> [c.name for c in parse_commands(b"^XA^FO10,10^FDHi^FS^XZ")]
['XA', 'FO', 'FD', 'FS', 'XZ']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from lineside.errors import InvalidInput
from lineside.gs1 import GS, GS1Message

#: The hex indicator used with every ``^FH``.
HEX_INDICATOR = "\\"
#: ``^BX`` escape character that introduces ``_1`` (FNC1) in GS1 DataMatrix data.
DATAMATRIX_ESCAPE = "_"

# Printable ASCII except ZPL's command prefixes, the hex indicator and the ^BX escape.
_SAFE = frozenset(chr(c) for c in range(0x20, 0x7F)) - set("^~\\_")


class _EscapeTable(dict[int, str]):
    """Code point -> field data text, for ``str.translate``; filled as characters appear."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char in _SAFE:
            escaped = char
        else:
            escaped = "".join(f"\\{b:02X}" for b in char.encode("utf-8", "surrogatepass"))
        if code < 0x3000:  # bounded: Latin, Vietnamese, Greek, Cyrillic... not all of CJK
            self[code] = escaped
        return escaped


_ESCAPES = _EscapeTable()
# In ^BX data after ^FH: GS is FNC1 (_1) and a literal escape character is doubled.
_DATAMATRIX_ESCAPES = _EscapeTable({ord(GS): "_1", ord(DATAMATRIX_ESCAPE): DATAMATRIX_ESCAPE * 2})


def _escape_char(char: str) -> str:
    return _ESCAPES[ord(char)]


def escape_text(value: str) -> str:
    r"""Field data safe after ``^FH\`` under ``^CI28``.

    >>> escape_text("Côn Minh")
    'C\\C3\\B4n Minh'
    """
    return value.translate(_ESCAPES)


def datamatrix_gs1_data(message: GS1Message) -> str:
    r"""``^FD`` data for a GS1 DataMatrix printed with ``^BXN,h,200,,,,_`` and ``^FH\``.

    A leading ``_1`` (FNC1) selects GS1 mode; ``_1`` also separates a variable-length
    field from the next AI (readers transmit it as GS). A literal ``_`` is doubled
    because the printer applies the ``^BX`` escapes after hex decoding.

    >>> datamatrix_gs1_data(GS1Message.parse("(01)08934567890120(10)A_1(21)7"))
    '_1010893456789012010A__1_1217'
    """
    # as_raw() decides where FNC1 separators go; only their spelling differs here.
    raw = message.as_raw(separator=GS)
    return "_1" + raw.translate(_DATAMATRIX_ESCAPES)


def _code128_char(char: str) -> str:
    if char == ">":
        return ">0"  # in ^BC mode N, ">" starts an invocation; ">0" is a literal ">"
    return _escape_char(char)


def gs1_128_data(message: GS1Message) -> str:
    """``^FD`` data for GS1-128 printed with ``^BC`` in mode N (the default).

    Starts in subset C with FNC1 (``>;>8``), packs digit pairs in subset C and switches
    to subset B (``>6``) for anything else; variable-length fields end with ``>8``.

    >>> gs1_128_data(GS1Message.parse("(01)08934567890120(10)AB12(21)7"))
    '>;>8010893456789012010>6AB12>8>521>67'
    """
    # One character each, or "" for FNC1 where as_raw() puts a separator.
    tokens = ["" if c == GS else c for c in message.as_raw(separator=GS)]
    out: list[str] = []

    def digit_run(start: int) -> int:
        end = start
        while end < len(tokens) and tokens[end] != "" and tokens[end].isdigit():
            end += 1
        return end - start

    first = digit_run(0)
    subset: Literal["B", "C"] = "C" if first >= 2 else "B"
    out.append(">;>8" if subset == "C" else ">:>8")
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "":
            out.append(">8")
            i += 1
            continue
        run = digit_run(i)
        # Subset C pays off for 4+ digits (2 when already in C, or at the very end).
        if run >= 2 and (subset == "C" or run >= 4 or i + run == len(tokens)):
            if subset != "C":
                out.append(">5")
                subset = "C"
            pairs = run - run % 2
            out.append("".join(tokens[i : i + pairs]))
            i += pairs
            continue
        if subset != "B":
            out.append(">6")
            subset = "B"
        out.append(_code128_char(token))
        i += 1
    return "".join(out)


def qr_data(text: str, error_correction: Literal["L", "M", "Q", "H"] = "M") -> str:
    r"""``^FD`` data for ``^BQN,2,m``: error correction, automatic input mode, the text.

    >>> qr_data("https://id.gs1.org/01/08934567890120")
    'MA,https://id.gs1.org/01/08934567890120'
    """
    return f"{error_correction}A,{escape_text(text)}"


def download_truetype(name: str, ttf: bytes) -> bytes:
    """``~DY`` download of a TrueType font to the printer, e.g. ``E:DEJAVU.TTF``.

    >>> download_truetype("E:X.TTF", b"abc")
    b'~DYE:X.TTF,B,T,3,,abc'
    """
    device, sep, filename = name.partition(":")
    if not sep or not device or not filename.upper().endswith(".TTF"):
        raise InvalidInput(f"font name {name!r}: expected DEVICE:NAME.TTF, e.g. E:DEJAVU.TTF")
    return f"~DY{device}:{filename},B,T,{len(ttf)},,".encode("ascii") + ttf


#: ``~HS``: host status (three lines); ``~HQES``: error and warning flags.
HOST_STATUS = b"~HS"
HOST_QUERY_STATUS = b"~HQES"
#: ``~JA``: cancel every format in the buffer.
CANCEL_ALL = b"~JA"


@dataclass(frozen=True, slots=True)
class ZplCommand:
    """One command: prefix (``^`` or ``~``), name (``FO``, ``A`` for fonts, ``DY``...)
    and its raw parameters (field data for ``FD``, binary data for ``DY``)."""

    prefix: str
    name: str
    params: bytes
    offset: int
    line: int

    @property
    def text(self) -> str:
        """The parameters decoded as UTF-8 (replacement characters for bad bytes)."""
        return self.params.decode("utf-8", "replace")


_PREFIXES = (0x5E, 0x7E)  # ^ ~
_PREFIX = re.compile(rb"[\^~]")


def _dy_payload_length(header: bytes) -> int | None:
    # ~DYd:f,b,x,t,w,data - binary ("B") payloads are t raw bytes after 5 commas.
    fields = header.split(b",", 5)
    if len(fields) < 6 or fields[1].strip().upper() != b"B":
        return None
    try:
        return int(fields[3])
    except ValueError:
        return None


def parse_commands(data: bytes) -> list[ZplCommand]:
    """Split ZPL into commands; text outside commands (line breaks) is ignored.

    Raises :class:`InvalidInput` for a prefix with no command name.

    >>> [(c.name, c.params) for c in parse_commands(b"^A0N,20,20^FDx^FS")]
    [('A', b'0N,20,20'), ('FD', b'x'), ('FS', b'')]
    """
    commands: list[ZplCommand] = []
    i = 0
    n = len(data)
    line = 1
    while i < n:
        if data[i] not in _PREFIXES:
            # Text before the first command (line breaks): skip to a prefix in one search.
            found = _PREFIX.search(data, i)
            k = found.start() if found is not None else n
            line += data.count(b"\n", i, k)
            i = k
            continue
        start = i
        prefix = chr(data[i])
        name_bytes = data[i + 1 : i + 3]
        if len(name_bytes) < 2 or any(b in _PREFIXES for b in name_bytes):
            if name_bytes[:1] in (b"A",) and len(name_bytes) >= 1 and i + 2 <= n:
                name_bytes = data[i + 1 : i + 2]
            else:
                raise InvalidInput(f"ZPL line {line}: {prefix!r} at byte {i} has no command name")
        name = name_bytes.decode("ascii", "replace").upper()
        if name[0] == "A" and name != "A@" and prefix == "^" and len(name) == 2:
            # ^A<font>: the second character is the font, part of the parameters.
            name = "A"
            j = i + 2
        elif name == "A@":
            name = "A"
            j = i + 2
        else:
            j = i + 1 + len(name_bytes)
        if name == "DY" and prefix == "~":
            comma_end = j
            commas = 0
            while comma_end < n and commas < 5 and data[comma_end] not in _PREFIXES:
                if data[comma_end] == 0x2C:
                    commas += 1
                comma_end += 1
            length = _dy_payload_length(data[j:comma_end] + b"x")
            if commas == 5 and length is not None:
                end = min(n, comma_end + length)
                commands.append(ZplCommand(prefix, name, data[j:end], start, line))
                i = end
                continue
        found = _PREFIX.search(data, j)
        k = found.start() if found is not None else n
        params = data[j:k]
        commands.append(ZplCommand(prefix, name, params.rstrip(b"\r\n"), start, line))
        line += params.count(b"\n")
        i = k
    return commands


def unescape_field(params: bytes, indicator: str = HEX_INDICATOR) -> bytes:
    r"""Undo ``^FH`` hex escapes: ``\C3\A9`` becomes ``b'\xc3\xa9'``.

    >>> unescape_field(b"A\\5EB")
    b'A^B'
    """
    mark = indicator.encode("ascii")[0]
    out = bytearray()
    i = 0
    while i < len(params):
        b = params[i]
        if b == mark and i + 2 < len(params):
            pair = params[i + 1 : i + 3]
            try:
                out.append(int(pair, 16))
                i += 3
                continue
            except ValueError:
                pass
        out.append(b)
        i += 1
    return bytes(out)
