r"""ESC/POS text in the printer's code pages, sans I/O, from tables built once per profile.

python-escpos picks a code page per character run (``ESC t n``) but rebuilds its
character tables for every new printer object, which dominates the cost of a label.
:class:`CodePageTables` builds them once from python-escpos's own code page data and
profile, and :class:`CodePageWriter` chooses pages the same way python-escpos does
(pages already used in this label first, then by slot), so the bytes are identical.

>>> tables = CodePageTables.for_profile("TM-T88V")
>>> data = tables.writer().write("Bằng Phúc")
>>> data
b'\x1bt\x00B\x1bt\x1e\xbbng Ph\xf3c'
>>> tables.decode(data)
'Bằng Phúc'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lineside.errors import InvalidInput

#: ``ESC t n``: select character code table ``n``.
CODEPAGE_CHANGE = b"\x1bt"
# python-escpos sends text holding CJK ideographs as GB18030 in one piece.
_CJK = re.compile("[\u4e00-\u9fa5]")


@dataclass(frozen=True, slots=True, eq=False)
class CodePage:
    """One code page a profile offers: its name, its ``ESC t`` slot and its upper half."""

    name: str
    slot: int
    #: Non-ASCII character -> byte (128..255).
    encode_map: Mapping[str, int]
    #: Byte (128..255) -> character, for decoding.
    decode_map: Mapping[int, str]
    #: Matches the first character this page cannot encode.
    _stop: re.Pattern[str] = field(repr=False, compare=False)
    #: ``str.translate`` table: non-ASCII character -> the Latin-1 char of its byte.
    _translate: Mapping[int, str] = field(repr=False, compare=False)

    @classmethod
    def build(cls, name: str, slot: int, upper_half: list[str]) -> CodePage:
        """A page from its 128 characters for bytes 0x80..0xFF (as python-escpos lists them)."""
        encode_map = {char: index + 128 for index, char in enumerate(upper_half)}
        decode_map = {index + 128: char for index, char in enumerate(upper_half)}
        non_ascii = sorted(c for c in encode_map if ord(c) >= 128)
        stop = re.compile("[^\x00-\x7f" + "".join(re.escape(c) for c in non_ascii) + "]")
        translate = {ord(c): chr(encode_map[c]) for c in non_ascii}
        return cls(name, slot, encode_map, decode_map, stop, translate)

    def writable_end(self, text: str, start: int) -> int:
        """Index of the first character from ``start`` this page cannot encode."""
        found = self._stop.search(text, start)
        return len(text) if found is None else found.start()

    def encode(self, text: str) -> bytes:
        """Bytes for ``text``, every character of which the page can encode."""
        return text.translate(self._translate).encode("latin-1")


def _upper_half(name: str) -> list[str] | None:
    from escpos.codepages import CodePages

    try:
        spec = CodePages.get_encoding(name)
    except KeyError:
        return None
    if "data" in spec:
        chars = list("".join(spec["data"]))
        return chars if len(chars) == 128 else None
    codec = spec.get("python_encode")
    if codec is None:
        return None
    chars = [" "] * 128
    for index in range(128):
        try:
            chars[index] = bytes([index + 128]).decode(codec)
        except UnicodeDecodeError:
            continue  # no character at this byte
        except LookupError:
            return None  # Python has no codec for this page
    return chars


@dataclass(frozen=True, slots=True)
class CodePageTables:
    """Every usable code page of a printer profile, in python-escpos's preference order."""

    profile: str
    pages: tuple[CodePage, ...]

    @classmethod
    def for_profile(cls, profile: str) -> CodePageTables:
        """Build the tables of ``profile`` (a python-escpos profile name, e.g. ``TM-T88V``).

        Pages without character data (python-escpos cannot use them either) are left out.
        """
        from escpos.capabilities import get_profile

        try:
            slots: dict[str, str] = dict(get_profile(profile).get_code_pages())
        except KeyError as exc:
            raise InvalidInput(f"ESC/POS profile {profile!r} is unknown: {exc}") from exc
        pages: list[CodePage] = []
        # python-escpos orders candidate pages by the slot as a string ("11" < "2").
        for name, slot in sorted(slots.items(), key=lambda item: item[1]):
            chars = _upper_half(name)
            if chars is not None:
                pages.append(CodePage.build(name, int(slot), chars))
        return cls(profile, tuple(pages))

    def writer(self) -> CodePageWriter:
        """A writer for one label (fresh state: no page selected yet)."""
        return CodePageWriter(self)

    def decode(self, data: bytes) -> str:
        """Text from printer bytes holding only ``ESC t n`` switches and text.

        The inverse of :meth:`CodePageWriter.write` (for tests and simulators).
        """
        by_slot = {page.slot: page for page in self.pages}
        page: CodePage | None = None
        out: list[str] = []
        index = 0
        while index < len(data):
            if data.startswith(CODEPAGE_CHANGE, index):
                if index + 2 >= len(data):
                    raise InvalidInput("ESC t at the end of the data: the page number is missing")
                page = by_slot.get(data[index + 2])
                if page is None:
                    raise InvalidInput(f"ESC t {data[index + 2]}: no such code page")
                index += 3
                continue
            byte = data[index]
            if byte < 128:
                out.append(chr(byte))
            elif page is None:
                raise InvalidInput(f"byte 0x{byte:02X} at {index} before any ESC t")
            else:
                out.append(page.decode_map[byte])
            index += 1
        return "".join(out)


class CodePageWriter:
    """Encodes the text of one label, switching code pages as needed.

    Characters no page can encode become ``default`` (``?``), as with python-escpos.
    """

    def __init__(self, tables: CodePageTables, default: str = "?") -> None:
        self.tables = tables
        self.default = default
        self.current: CodePage | None = None
        self._used: list[CodePage] = []

    def _find(self, char: str) -> CodePage | None:
        ascii_char = ord(char) < 128
        for candidates in (self._used, self.tables.pages):
            for page in candidates:
                if ascii_char or char in page.encode_map:
                    if page not in self._used:
                        # Keep the used pages in table order, as python-escpos sorts them.
                        self._used.append(page)
                        self._used.sort(key=self.tables.pages.index)
                    return page
        return None

    def _emit(self, page: CodePage, text: str, out: bytearray) -> None:
        if page is not self.current:
            self.current = page
            out += CODEPAGE_CHANGE + bytes([page.slot])
        out += page.encode(text)

    def write(self, text: str) -> bytes:
        """The bytes for ``text``: ``ESC t n`` where the page changes, then the text."""
        if _CJK.search(text):
            return text.encode("gb18030")
        out = bytearray()
        self._write(text, out)
        return bytes(out)

    def _write(self, text: str, out: bytearray) -> None:
        start = 0
        if self.current is not None:
            start = self.current.writable_end(text, 0)
            if start:
                self._emit(self.current, text[:start], out)
        while start < len(text):
            page = self._find(text[start])
            if page is None:
                self._write(self.default, out)
                start += 1
                continue
            end = page.writable_end(text, start)
            self._emit(page, text[start:end], out)
            start = end
