"""Compressed GS1 Digital Link URIs (GS1 Digital Link: Compression): read and write.

A compressed URI carries its AIs as one path segment of URI-safe base64 (``A-Z a-z 0-9
- _``, six bits a character). The bits hold, one after another, an AI (its digits as
hexadecimal nibbles) or an optimisation code standing for a sequence of AIs, then each
value in the format its AI defines: a fixed-length numeric component as one binary
number, a variable-length one with its length first, an alphanumeric one with a
three-bit encoding (numeric, lower or upper hex, URI-safe base64, 7-bit ASCII) and, when
variable, its length. A nibble ``F`` starts a non-GS1 ``key=value`` pair.

:func:`decompress_digital_link` turns such a URI back into the uncompressed form, which
:func:`~lineside.gs1.digital_link.parse_digital_link` then reads; a partly compressed
URI (``/01/{gtin}/{compressed}``) is read too.

>>> decompress_digital_link("https://id.gs1.org/ARBAe32ZkCDKXtpt0LoRv5CxJag")
'https://id.gs1.org/01/08934567890120/10/L2026/21/S1?17=271231'
>>> compress_digital_link("https://id.gs1.org/01/08934567890120")
'https://id.gs1.org/ARBAe32ZkA'
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lineside.errors import DigitalLinkError
from lineside.gs1.dictionary import syntax_dictionary
from lineside.gs1.digital_link import split_digital_link, to_digital_link
from lineside.gs1.message import ElementString, GS1Message

__all__ = [
    "compress_digital_link",
    "decompress_digital_link",
    "is_compressed_segment",
]

_BASE64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_BASE64_INDEX = MappingProxyType({char: index for index, char in enumerate(_BASE64)})
_HEX = "0123456789ABCDEF"
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_PRIMARY_SEGMENT = re.compile(r"^\d{2,4}$")

#: Shortest compressed segment: an AI byte and a GTIN's 47 bits need ten characters;
#: anything shorter is an ordinary path word, not a compressed link.
_MIN_SEGMENT = 6

_NUMERIC, _HEX_LOWER, _HEX_UPPER, _BASE64_ENC, _ASCII = 0, 1, 2, 3, 4


def _optimisations() -> Mapping[str, tuple[str, ...]]:
    """The optimisation codes of the compression standard: two hex digits that are not
    both decimal stand for a common sequence of AIs."""
    table: dict[str, tuple[str, ...]] = {
        "0A": ("01", "22"),
        "0B": ("01", "10"),
        "0C": ("01", "21"),
        "0D": ("01", "17"),
        "0E": ("01", "7003"),
        "0F": ("01", "30"),
        "1A": ("01", "10", "21", "17"),
        "1B": ("01", "15"),
        "1C": ("01", "11"),
        "1D": ("01", "16"),
        "1E": ("01", "91"),
        "1F": ("01", "10", "15"),
        "9A": ("8010", "8011"),
        "9B": ("8017", "8019"),
        "9C": ("8018", "8019"),
        "9D": ("414", "254"),
    }
    for digit, letter in enumerate("ABCDEF"):
        table[f"2{letter}"] = ("01", f"310{digit}")  # net weight, kg
        table[f"3{letter}"] = ("01", f"320{digit}")  # net weight, lb
    for digit in range(10):
        table[f"A{digit}"] = ("01", f"392{digit}")  # amount payable
        table[f"C{digit}"] = ("255", f"390{digit}")  # coupon value
    for digit, letter in enumerate("ABCD"):
        table[f"C{letter}"] = ("255", f"394{digit}")  # percentage off
    return MappingProxyType(table)


OPTIMISATIONS = _optimisations()


@dataclass(frozen=True, slots=True)
class _Part:
    """One component of an AI's value as compression sees it."""

    numeric: bool
    length: int  # the fixed length, or the maximum of a variable one
    variable: bool


@functools.cache
def _format(ai: str) -> tuple[_Part, ...]:
    """The value format of ``ai`` from the syntax dictionary, consecutive fixed-length
    numeric components merged (GRAI's ``N1 N13`` is one 14-digit number)."""
    definition = syntax_dictionary().get(ai)
    if definition is None:
        raise DigitalLinkError(f"compressed Digital Link: AI ({ai}) is not a known AI")
    parts: list[_Part] = []
    for component in definition.components:
        numeric = component.kind == "N"
        variable = component.optional or component.min_length != component.max_length
        previous = parts[-1] if parts else None
        if (
            numeric
            and not variable
            and previous is not None
            and previous.numeric
            and not previous.variable
        ):
            parts[-1] = _Part(True, previous.length + component.max_length, False)
            continue
        parts.append(_Part(numeric, component.max_length, variable))
    return tuple(parts)


def _value_bits(digits: int) -> int:
    """Bits holding a number of ``digits`` decimal digits (the standard's formula)."""
    return math.ceil(digits * math.log2(10) + 0.01)


def _length_bits(maximum: int) -> int:
    """Bits holding a length from 0 to ``maximum``."""
    return math.ceil(math.log2(maximum) + 0.01)


class _Bits:
    """A cursor over a string of ``0`` and ``1``."""

    def __init__(self, bits: str) -> None:
        self.bits = bits
        self.cursor = 0

    @property
    def left(self) -> int:
        return len(self.bits) - self.cursor

    def take(self, count: int) -> int:
        if count > self.left:
            raise DigitalLinkError(
                f"compressed Digital Link: data ends {count - self.left} bits early"
            )
        chunk = self.bits[self.cursor : self.cursor + count]
        self.cursor += count
        return int(chunk, 2) if chunk else 0

    def number(self, digits: int) -> str:
        value = self.take(_value_bits(digits))
        text = str(value).zfill(digits)
        if len(text) > digits:
            raise DigitalLinkError(
                f"compressed Digital Link: a {digits}-digit number holds {value}"
            )
        return text

    def characters(self, encoding: int, count: int) -> str:
        if encoding == _NUMERIC:
            return self.number(count)
        if encoding in (_HEX_LOWER, _HEX_UPPER):
            text = "".join(_HEX[self.take(4)] for _ in range(count))
            return text.lower() if encoding == _HEX_LOWER else text
        if encoding == _BASE64_ENC:
            return "".join(_BASE64[self.take(6)] for _ in range(count))
        if encoding == _ASCII:
            return "".join(chr(self.take(7)) for _ in range(count))
        raise DigitalLinkError(f"compressed Digital Link: unknown value encoding {encoding}")


def _read_value(bits: _Bits, ai: str) -> str:
    value = []
    for part in _format(ai):
        encoding = _NUMERIC if part.numeric else bits.take(3)
        count = bits.take(_length_bits(part.length)) if part.variable else part.length
        if count > part.length:
            raise DigitalLinkError(
                f"compressed Digital Link: AI ({ai}) value of {count} characters, "
                f"at most {part.length} allowed"
            )
        value.append(bits.characters(encoding, count) if count else "")
    return "".join(value)


def _read_ai(bits: _Bits, first: int, second: int) -> str:
    prefix = f"{first}{second}"
    size = syntax_dictionary().unknown_ai_length(prefix)
    if size is None:
        raise DigitalLinkError(f"compressed Digital Link: no AI starts with {prefix}")
    ai = prefix
    while len(ai) < size:
        digit = bits.take(4)
        if digit > 9:
            raise DigitalLinkError(f"compressed Digital Link: AI {ai}{_HEX[digit]} is not numeric")
        ai += str(digit)
    return ai


def _decode(segment: str) -> tuple[list[ElementString], list[tuple[str, str]]]:
    """The AIs and the non-GS1 pairs a compressed segment holds, in order."""
    bits = _Bits("".join(f"{_BASE64_INDEX[char]:06b}" for char in segment))
    elements: list[ElementString] = []
    others: list[tuple[str, str]] = []
    # Fewer than eight bits left are the padding of the last base64 character.
    while bits.left >= 8:
        first, second = bits.take(4), bits.take(4)
        if first <= 9 and second <= 9:
            ai = _read_ai(bits, first, second)
            elements.append(ElementString(ai, _read_value(bits, ai)))
            continue
        code = _HEX[first] + _HEX[second]
        sequence = OPTIMISATIONS.get(code)
        if sequence is not None:
            elements.extend(ElementString(ai, _read_value(bits, ai)) for ai in sequence)
        elif first == 15:
            key_length = second << 3 | bits.take(3)
            key = "".join(_BASE64[bits.take(6)] for _ in range(key_length))
            encoding = bits.take(3)
            others.append((key, bits.characters(encoding, bits.take(7))))
        else:
            raise DigitalLinkError(f"compressed Digital Link: unknown code {code}")
    if not elements:
        raise DigitalLinkError("compressed Digital Link: it holds no AI")
    return elements, others


def is_compressed_segment(segment: str) -> bool:
    """Whether ``segment`` can be a compressed Digital Link path segment.

    >>> is_compressed_segment("ARBAe32ZkA"), is_compressed_segment("login")
    (True, False)
    """
    return len(segment) >= _MIN_SEGMENT and _SEGMENT.match(segment) is not None


def decompress_digital_link(uri: str) -> str:
    """The uncompressed GS1 Digital Link URI of a compressed (or partly compressed) one.

    The stem is kept; the query string's parameters follow the data attributes.
    Raises :class:`DigitalLinkError` naming what is wrong.

    >>> decompress_digital_link("https://id.gs1.org/QUggPbE30Q?linkType=all")
    'https://id.gs1.org/414/8934567000017?linkType=all'
    >>> decompress_digital_link("https://id.gs1.org/AB")
    Traceback (most recent call last):
    ...
    lineside.errors.DigitalLinkError: compressed Digital Link: 'AB' is not a compressed path \
segment
    """
    without_fragment = uri.split("#", 1)[0]
    head, _, query = without_fragment.partition("?")
    head = head.rstrip("/")
    scheme_end = head.find("://")
    if scheme_end < 0 or head[:scheme_end].lower() not in ("http", "https"):
        raise DigitalLinkError("compressed Digital Link must start with http:// or https://")
    slash = head.find("/", scheme_end + 3)
    if slash < 0:
        raise DigitalLinkError("compressed Digital Link: a domain and a path are required")
    segments = head[slash + 1 :].split("/")
    segment = segments[-1]
    if not is_compressed_segment(segment):
        raise DigitalLinkError(
            f"compressed Digital Link: {segment[:40]!r} is not a compressed path segment"
        )
    elements, others = _decode(segment)
    stem_segments = segments[:-1]
    prefix: list[ElementString] = []
    if len(stem_segments) >= 2 and _PRIMARY_SEGMENT.match(stem_segments[-2]):
        # Partly compressed: the primary key stays readable in the path.
        uncompressed = split_digital_link(f"{head[:slash]}/{'/'.join(stem_segments)}")
        prefix = [uncompressed.primary_key, *uncompressed.qualifiers]
        stem_segments = stem_segments[:-2]
    stem = head[:slash] + "".join(f"/{part}" for part in stem_segments)
    link = to_digital_link(GS1Message((*prefix, *elements)), stem=stem)
    extra = [f"{key}={value}" for key, value in others]
    if query:
        extra.append(query)
    if not extra:
        return link
    return link + ("&" if "?" in link else "?") + "&".join(extra)


def _write_number(digits: str) -> str:
    return f"{int(digits):0{_value_bits(len(digits))}b}" if digits else ""


def _encoding(text: str) -> int:
    if text.isascii() and text.isdigit():
        return _NUMERIC
    if re.fullmatch(r"[0-9A-F]+", text):
        return _HEX_UPPER
    if re.fullmatch(r"[0-9a-f]+", text):
        return _HEX_LOWER
    if _SEGMENT.match(text):
        return _BASE64_ENC
    return _ASCII


def _write_characters(text: str) -> tuple[str, str]:
    """The three-bit encoding and the bits of an alphanumeric value."""
    encoding = _encoding(text)
    if encoding == _NUMERIC:
        body = _write_number(text)
    elif encoding in (_HEX_LOWER, _HEX_UPPER):
        body = "".join(f"{_HEX.index(char.upper()):04b}" for char in text)
    elif encoding == _BASE64_ENC:
        body = "".join(f"{_BASE64_INDEX[char]:06b}" for char in text)
    else:
        body = "".join(f"{ord(char):07b}" for char in text)
    return f"{encoding:03b}", body


def _write_value(ai: str, value: str) -> str:
    out: list[str] = []
    position = 0
    for part in _format(ai):
        chunk = value[position:] if part.variable else value[position : position + part.length]
        position += len(chunk)
        length = f"{len(chunk):0{_length_bits(part.length)}b}" if part.variable else ""
        if part.numeric:
            out.append(length + _write_number(chunk))
        else:
            head, body = _write_characters(chunk)
            out.append(head + length + body)
    return "".join(out)


def compress_digital_link(uri: str) -> str:
    """The fully compressed form of an uncompressed Digital Link URI (AIs in URI order,
    no optimisation codes; non-AI query parameters stay uncompressed).

    >>> compress_digital_link("https://id.gs1.org/00/089345678912345677")
    'https://id.gs1.org/ABPWtr7clWTQ'
    """
    parts = split_digital_link(uri)
    bits = "".join(
        "".join(f"{int(digit):04b}" for digit in element.ai)
        + _write_value(element.ai, element.value)
        for element in parts.message.elements
    )
    bits += "0" * (-len(bits) % 6)
    segment = "".join(_BASE64[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))
    query = "&".join(parts.ignored_query)
    return f"{parts.stem}/{segment}" + (f"?{query}" if query else "")
