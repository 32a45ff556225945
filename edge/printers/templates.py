"""Label templates a technician can edit: ZPL with named fields, and an ESC/POS layout.

ZPL template (``.zpl``): plain ZPL where field data may hold ``{{field}}`` (or
``{{field?}}`` for a field that may be absent). Every such ``^FD`` gets ``^FH\\`` and
hex-escaped data, so no value can inject a command. In a ``^BX`` field,
``{{element_string}}`` becomes GS1 DataMatrix data (write ``^BXN,h,200,,,,_``); in a
``^BC`` field it becomes GS1-128 data (mode N). ``^CI28`` is added when missing.
Fonts named in ``^A@...,E:NAME.TTF`` are listed in :attr:`ZplTemplate.fonts` so the
driver can download them once.

ESC/POS template (``.toml``)::

    [label]
    codepage = "CP1258"        # or "raster" to print text as an image
    [[line]]
    text = "{{product_name}}"
    bold = true
    align = "center"
    [[line]]
    qr = "{{digital_link}}"
    [[line]]
    gs1_128 = "{{element_string}}"

Errors are :class:`TemplateError` naming the file, the line and the field.

>>> t = ZplTemplate.from_text("^XA^FO10,10^BQN,2,4^FDMA,{{digital_link}}^FS^XZ", "t.zpl")
>>> sorted(t.fields)
['digital_link']
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from edge.printers.label_data import STANDARD_FIELDS, LabelData
from lineside.codecs.escpos import EscposLine, LineKind
from lineside.codecs.zpl import (
    ZplCommand,
    datamatrix_gs1_data,
    escape_text,
    gs1_128_data,
    parse_commands,
)
from lineside.errors import ConfigError, InvalidInput
from lineside.gs1 import GS1Message

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(\?)?\s*\}\}")

#: ZPL commands a template may use (others are refused: a typo must not print garbage).
KNOWN_ZPL_COMMANDS: frozenset[str] = frozenset(
    {
        "XA",
        "XZ",
        "FO",
        "FT",
        "FD",
        "FS",
        "FH",
        "FX",
        "FB",
        "FR",
        "FW",
        "FN",
        "FV",
        "CI",
        "CF",
        "CC",
        "CD",
        "CT",
        "PW",
        "LL",
        "LH",
        "LS",
        "LT",
        "LR",
        "PR",
        "PQ",
        "PO",
        "PM",
        "PN",
        "MN",
        "MT",
        "MD",
        "MM",
        "ML",
        "JM",
        "JU",
        "JZ",
        "BY",
        "BC",
        "BX",
        "BQ",
        "BE",
        "B3",
        "B7",
        "BD",
        "BU",
        "BA",
        "BK",
        "BR",
        "BT",
        "GB",
        "GC",
        "GD",
        "GE",
        "GF",
        "GS",
        "A",
        "SN",
        "SF",
        "DF",
        "XF",
        "ID",
        "IL",
        "IM",
        "IS",
        "DG",
        "DY",
        "HS",
        "HQ",
        "JA",
        "HH",
        "SD",
        "TA",
        "MU",
        "KD",
        "HT",
    }
)

#: The label templates shipped with Lineside (package data), named ``builtin:NAME`` in a
#: line configuration.
BUILTIN_LABELS = Path(__file__).resolve().parent / "labels"
BUILTIN_PREFIX = "builtin:"


class TemplateError(ConfigError):
    """A label template is invalid, or cannot be filled from a unit's data."""


def _check_field_name(name: str, where: str) -> None:
    if name in STANDARD_FIELDS:
        return
    if name.startswith("extra.") and name[6:].isidentifier():
        return
    known = ", ".join(sorted(STANDARD_FIELDS))
    raise TemplateError(f"{where}: unknown field {{{{{name}}}}}; known: {known}, extra.<name>")


def _read_template(path: str | Path, encoding: str) -> str:
    try:
        return Path(path).read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read the template: {exc}") from exc


#: How a slot's value is written into the label.
SlotEncoding = Literal["text", "datamatrix", "gs1_128"]


@dataclass(frozen=True, slots=True)
class _Slot:
    name: str
    optional: bool
    encoding: SlotEncoding
    line: int


def _slot_encoding(
    match: re.Match[str], field_text: str, barcode: str | None, barcode_params: str, where: str
) -> SlotEncoding:
    """How a placeholder's value is written: as text, or as GS1 data for its barcode.

    ``{{element_string}}`` alone in a ``^BX`` field is GS1 DataMatrix data, in a ``^BC``
    field GS1-128 data; the barcode's parameters must allow it.
    """
    if match.group(1) != "element_string" or barcode not in {"BX", "BC"}:
        return "text"
    if field_text.strip() != match.group(0):
        raise TemplateError(f"{where}: {{{{element_string}}}} must be alone in a ^{barcode} field")
    if barcode == "BX":
        escape_param = (barcode_params.split(",") + [""] * 7)[6]
        if escape_param != "_" or ",200" not in barcode_params:
            raise TemplateError(
                f"{where}: GS1 DataMatrix needs ^BXN,h,200,,,,_ "
                f"(quality 200, escape _), got ^BX{barcode_params}"
            )
        return "datamatrix"
    mode = (barcode_params.split(",") + [""] * 6)[5].strip()
    if mode not in {"", "N"}:
        raise TemplateError(f"{where}: GS1-128 needs ^BC mode N, got mode {mode!r}")
    return "gs1_128"


@dataclass(slots=True)
class _ZplCompiler:
    """Compiles a ZPL template one command at a time (see :meth:`ZplTemplate.from_text`).

    The output is re-assembled from the template's bytes (the tokenizer gives byte
    offsets): literal pieces, cut at each placeholder, with ``^FH\\`` inserted before
    every field that has one and the field's literal text hex-escaped.
    """

    source: str
    raw: bytes
    #: The line of the ``^XA`` whose format is open, if any.
    open_at: int | None = None
    labels: int = 0
    #: Barcode fields whose literal data starts GS1 (FNC1 first: ``_1`` in ^BX, ``>;>8``
    #: in ^BC), such as ``_100{{extra.sscc}}``.
    gs1_literals: int = 0
    has_ci28: bool = False
    fonts: set[str] = field(default_factory=set)
    #: The barcode command of the current field (``BX``, ``BC``, ``BQ``) and its parameters.
    barcode: str | None = None
    barcode_params: str = ""
    saw_fh: bool = False
    pieces: list[str] = field(default_factory=list)
    slots: list[_Slot] = field(default_factory=list)
    #: Byte offset in ``raw`` up to which the template has been copied out.
    cursor: int = 0
    out_prefix: bytearray = field(default_factory=bytearray)

    def feed(self, command: ZplCommand) -> None:
        where = f"{self.source} line {command.line}"
        name = command.name
        if name not in KNOWN_ZPL_COMMANDS:
            raise TemplateError(f"{where}: unknown ZPL command {command.prefix}{name}")
        self._check_format(command, where)
        if name == "CI":
            self.has_ci28 = command.text.strip().startswith("28")
        elif name == "A":
            self._font(command.text, where)
        elif name in {"BX", "BC", "BQ"}:
            self.barcode, self.barcode_params = name, command.text
        elif name == "FH":
            self.saw_fh = True
        elif name == "FS":
            self.barcode, self.saw_fh = None, False
        elif name == "FD":
            self._field_data(command, where)

    def _check_format(self, command: ZplCommand, where: str) -> None:
        """``^XA`` and ``^XZ`` pair up; format commands stay inside them."""
        name = command.name
        if name == "XA":
            if self.open_at is not None:
                raise TemplateError(f"{where}: ^XA inside a format opened on line {self.open_at}")
            self.open_at = command.line
        elif name == "XZ":
            if self.open_at is None:
                raise TemplateError(f"{where}: ^XZ without a matching ^XA")
            self.open_at = None
            self.labels += 1
        elif command.prefix == "^" and self.open_at is None and name not in {"FX"}:
            raise TemplateError(f"{where}: ^{name} outside ^XA...^XZ")

    def _font(self, params: str, where: str) -> None:
        if params.startswith("@"):
            font = params.rsplit(",", 1)[-1].strip()
            if ":" not in font:
                raise TemplateError(f"{where}: ^A@ needs a font like E:DEJAVU.TTF")
            self.fonts.add(font.upper())

    def _field_data(self, command: ZplCommand, where: str) -> None:
        field_text = command.text
        found = list(_PLACEHOLDER.finditer(field_text))
        leftover = _PLACEHOLDER.sub("", field_text)
        if "{{" in leftover or "}}" in leftover:
            raise TemplateError(f"{where}: malformed placeholder in {field_text!r}")
        if self.barcode in {"BX", "BC"} and field_text.startswith(("_1", ">;>8", ">:>8")):
            self.gs1_literals += 1
        if not found:
            return
        if self.saw_fh:
            raise TemplateError(
                f"{where}: remove ^FH before a field with placeholders (added for you)"
            )
        start = command.offset
        self.out_prefix += self.raw[self.cursor : start] + b"^FH\\^FD"
        text_pos = 0
        for match in found:
            _check_field_name(match.group(1), where)
            encoding = _slot_encoding(match, field_text, self.barcode, self.barcode_params, where)
            literal = field_text[text_pos : match.start()]
            self.out_prefix += escape_text(literal).encode("utf-8") if literal else b""
            self.pieces.append(self.out_prefix.decode("utf-8"))
            self.out_prefix = bytearray()
            self.slots.append(_Slot(match.group(1), bool(match.group(2)), encoding, command.line))
            text_pos = match.end()
        self.out_prefix += escape_text(field_text[text_pos:]).encode("utf-8")
        self.cursor = start + 3 + len(command.params)

    def finish(self) -> tuple[tuple[str, ...], tuple[_Slot, ...]]:
        """The compiled pieces and slots, once every command is fed."""
        if self.open_at is not None:
            raise TemplateError(f"{self.source} line {self.open_at}: ^XA is never closed by ^XZ")
        if self.labels == 0:
            raise TemplateError(f"{self.source}: no label format (^XA...^XZ)")
        self.out_prefix += self.raw[self.cursor :]
        pieces = [*self.pieces, self.out_prefix.decode("utf-8")]
        codes = [s for s in self.slots if s.encoding != "text" or s.name == "digital_link"]
        if not codes and not self.gs1_literals:
            raise TemplateError(
                f"{self.source}: no GS1 code field: put {{{{element_string}}}} in a ^BX or ^BC "
                "field, or {{digital_link}} in a ^BQ field"
            )
        if not self.has_ci28:
            pieces[0] = pieces[0].replace("^XA", "^XA^CI28", 1)
        return tuple(pieces), tuple(self.slots)


@dataclass(frozen=True, slots=True)
class ZplTemplate:
    """A compiled ZPL template: literal pieces and the slots between them."""

    source: str
    pieces: tuple[str, ...]
    slots: tuple[_Slot, ...]
    fonts: frozenset[str] = field(default_factory=frozenset)
    _fields: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_fields", frozenset(slot.name for slot in self.slots))

    @property
    def fields(self) -> frozenset[str]:
        """Names of the fields the template uses."""
        return self._fields

    @classmethod
    def load(cls, path: str | Path) -> ZplTemplate:
        """Read and validate a ``.zpl`` template file."""
        return cls.from_text(_read_template(path, "utf-8-sig"), str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<template>") -> ZplTemplate:
        """Validate ``text`` and compile it; ``source`` names it in errors."""
        raw = text.encode("utf-8")
        try:
            commands = parse_commands(raw)
        except InvalidInput as exc:
            raise TemplateError(f"{source}: {exc}") from exc
        compiler = _ZplCompiler(source, raw)
        for command in commands:
            compiler.feed(command)
        pieces, slots = compiler.finish()
        return cls(source, pieces, slots, frozenset(compiler.fonts))

    def render(
        self, data: LabelData | Mapping[str, str], message: GS1Message | None = None
    ) -> bytes:
        """Fill the template; raise :class:`TemplateError` naming a missing field."""
        if isinstance(data, LabelData):
            message = data.gs1_message()
            values: Mapping[str, str] = data.fields(self.fields, message=message)
        else:
            values = data
        parts = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            value = values.get(slot.name)
            if value is None:
                if not slot.optional:
                    raise TemplateError(
                        f"{self.source} line {slot.line}: field {{{{{slot.name}}}}} is required "
                        "but the unit has no value (write {{" + slot.name + "?}} if optional)"
                    )
                value = ""
            if slot.encoding == "text":
                parts.append(escape_text(value))
            else:
                if message is None:
                    message = GS1Message.parse(values["element_string"])
                if slot.encoding == "datamatrix":
                    parts.append(datamatrix_gs1_data(message))
                else:
                    parts.append(gs1_128_data(message))
            parts.append(piece)
        return "".join(parts).encode("utf-8")


# --- ESC/POS --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EscposTemplate:
    """A validated ESC/POS layout (see the module docstring)."""

    source: str
    lines: tuple[EscposLine, ...]
    codepage: str = "CP1258"
    width_dots: int = 384
    _fields: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = frozenset(m.group(1) for ln in self.lines for m in _PLACEHOLDER.finditer(ln.value))
        object.__setattr__(self, "_fields", names)

    @property
    def fields(self) -> frozenset[str]:
        """Names of the fields the layout uses."""
        return self._fields

    @classmethod
    def load(cls, path: str | Path) -> EscposTemplate:
        """Read and validate a ``.toml`` ESC/POS layout."""
        return cls.from_text(_read_template(path, "utf-8"), str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<template>") -> EscposTemplate:
        """Validate a TOML layout; errors name the file, the ``[[line]]`` and the key."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise TemplateError(f"{source}: not valid TOML: {exc}") from exc
        unknown_top = set(doc) - {"label", "line"}
        if unknown_top:
            raise TemplateError(f"{source}: unknown table(s) {sorted(unknown_top)}")
        label = doc.get("label", {})
        codepage = str(label.get("codepage", "CP1258"))
        width = int(label.get("width_dots", 384))
        # Source line of each [[line]] header, so errors point where the technician looks.
        header_lines = [i + 1 for i, ln in enumerate(text.splitlines()) if ln.strip() == "[[line]]"]
        lines: list[EscposLine] = []
        kinds: tuple[LineKind, ...] = ("text", "qr", "gs1_128", "datamatrix", "feed", "cut")
        for index, entry in enumerate(doc.get("line", [])):
            lineno = header_lines[index] if index < len(header_lines) else 0
            where = f"{source} line {lineno} ([[line]] #{index + 1})"
            present = [k for k in kinds if k in entry]
            if len(present) != 1:
                raise TemplateError(f"{where}: needs exactly one of {', '.join(kinds)}")
            extra = set(entry) - set(kinds) - {"align", "bold", "size"}
            if extra:
                raise TemplateError(f"{where}: unknown key(s) {sorted(extra)}")
            kind = present[0]
            value = str(entry[kind])
            for match in _PLACEHOLDER.finditer(value):
                _check_field_name(match.group(1), where)
            if kind in {"gs1_128", "datamatrix"} and value.strip() != "{{element_string}}":
                raise TemplateError(f"{where}: {kind} must be exactly {{{{element_string}}}}")
            align = entry.get("align", "left")
            if align not in ("left", "center", "right"):
                raise TemplateError(f"{where}: align {align!r}; expected left, center or right")
            size = int(entry.get("size", 1 if kind == "text" else 6))
            lines.append(
                EscposLine(kind, value, align, bool(entry.get("bold", False)), size, lineno)
            )
        if not any(ln.kind in {"qr", "gs1_128", "datamatrix"} for ln in lines):
            raise TemplateError(f"{source}: no code line (qr, gs1_128 or datamatrix)")
        return cls(source, tuple(lines), codepage, width)

    def fill(self, data: LabelData) -> list[EscposLine]:
        """The layout with every placeholder replaced by the unit's value."""
        values = data.fields(self.fields)
        out: list[EscposLine] = []
        for ln in self.lines:

            def sub(match: re.Match[str], ln: EscposLine = ln) -> str:
                value = values.get(match.group(1))
                if value is None:
                    if match.group(2):
                        return ""
                    raise TemplateError(
                        f"{self.source} line {ln.line}: field {{{{{match.group(1)}}}}} is "
                        "required but the unit has no value"
                    )
                return value

            out.append(
                EscposLine(
                    ln.kind, _PLACEHOLDER.sub(sub, ln.value), ln.align, ln.bold, ln.size, ln.line
                )
            )
        return out


LabelTemplate = ZplTemplate | EscposTemplate


def builtin_or_path(path: str | Path) -> Path:
    """``builtin:NAME`` as the shipped template's path; any other path unchanged.

    >>> builtin_or_path("builtin:unit-60x40.zpl").name
    'unit-60x40.zpl'
    """
    name = str(path)
    if name.startswith(BUILTIN_PREFIX):
        return BUILTIN_LABELS / name.removeprefix(BUILTIN_PREFIX)
    return Path(path)


def load_template(path: str | Path) -> LabelTemplate:
    """Load a template by its suffix: ``.zpl`` or ``.toml`` (ESC/POS), or ``builtin:NAME``."""
    path = builtin_or_path(path)
    if path.suffix.lower() == ".zpl":
        return ZplTemplate.load(path)
    if path.suffix.lower() == ".toml":
        return EscposTemplate.load(path)
    raise TemplateError(f"{path}: unknown template type {path.suffix!r}; expected .zpl or .toml")
