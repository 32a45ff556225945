"""Fuzz the GS1 parsers: element strings, Digital Link URIs, scan data and keys.

Only :class:`~lineside.errors.GS1Error` may escape; whatever parses must survive a
re-encode and parse again unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from hypothesis import given
from hypothesis import strategies as st

from lineside.errors import GS1Error
from lineside.gs1 import (
    GS,
    Gln,
    GS1Message,
    Gtin,
    Sscc,
    compress_digital_link,
    decompress_digital_link,
    gs1_check_digit,
    parse_digital_link,
    parse_scan,
    split_digital_link,
    to_digital_link,
)
from tests.fuzz.support import (
    InputCounter,
    fuzz_settings,
    hostile_bytes,
    hostile_text,
    long_bytes,
    long_text,
    mutated_bytes,
    mutated_text,
    returns_or_refuses,
)

GTIN = "0893456789012" + gs1_check_digit("0893456789012")
SSCC = "38934567000000001" + gs1_check_digit("38934567000000001")
GLN = "893456700001" + gs1_check_digit("893456700001")
ELEMENT_STRINGS = [
    f"(01){GTIN}(10)LOT7(21)X7K2",
    f"(01){GTIN}(17)261231(10)ABC-1/2(21)12345",
    f"(00){SSCC}",
    f"(414){GLN}(254)A1",
    f"(01){GTIN}(3103)000750(11)250101(10)L\\(1",
    f"^01{GTIN}10LOT1{GS}21SER",
    f"{GS}01{GTIN}17261231" + "10AB^21CD",
    f"01{GTIN}21Z9",
]
DIGITAL_LINKS = [
    f"https://id.gs1.org/01/{GTIN}/10/LOT%2F7/21/X7K2?17=261231",
    f"https://trace.example.vn/p/q/01/{GTIN}/21/A%20B?11=250101&3103=000750&x=y",
    f"http://id.example.com/00/{SSCC}",
    f"https://id.gs1.org/414/{GLN}/254/A1#fragment",
]
SCANS = [
    b"]d2" + ELEMENT_STRINGS[5][1:].encode(),
    b"]C1" + f"01{GTIN}10LOT{GS}21S".encode(),
    b"]Q3" + f"00{SSCC}".encode(),
    b"]Q1" + DIGITAL_LINKS[0].encode(),
    b"]E0" + GTIN[1:].encode(),
    b"]E4" + b"96385074",
    GTIN.encode() + b"\r\n",
    DIGITAL_LINKS[1].encode(),
    b"]A0plain text",
]
#: Characters of the element-string grammar, to steer mutations into the parser.
GS1_ALPHABET = "0123456789()^\\\x1dABCXYZ/-."
DL_ALPHABET = "0123456789/%?&=#:.ABCxyz"

_DIGITS = re.compile(r"[0-9]+")


def _check_message(message: GS1Message) -> None:
    """What every successfully parsed message must satisfy."""
    assert message.elements, "a parsed message holds at least one element"
    # The bracketed form escapes "(" as "\\(" but not "\\" itself, so a value ending in
    # a backslash (never valid: not in character set 82) cannot be told from an escape.
    if not any(element.value.endswith("\\") for element in message.elements[:-1]):
        bracketed = message.as_bracketed()
        assert GS1Message.parse(bracketed, permit_unknown_ais=True) == message, bracketed
    for separator in (GS, "^"):
        raw = message.as_raw(separator=separator)
        assert GS1Message.parse(raw, separators_trusted=True) == message, raw


def _check_valid_message(message: GS1Message) -> None:
    """A validated message also survives a Digital Link round trip when it has a key."""
    _check_message(message)
    link = returns_or_refuses(lambda: to_digital_link(message, "https://x.example"), GS1Error)
    if link is not None:
        again = parse_digital_link(link)
        assert sorted(again.elements, key=lambda e: e.ai) == sorted(
            set(message.elements), key=lambda e: e.ai
        ), link


def _parse_element_string(text: str, inputs: InputCounter) -> None:
    inputs.tried("gs1.GS1Message.parse")
    for trusted in (False, True):
        message = returns_or_refuses(
            partial(GS1Message.parse, text, separators_trusted=trusted), GS1Error
        )
        if message is None:
            continue
        _check_message(message)
        if _validates(message):
            _check_valid_message(message)


def _validates(message: GS1Message) -> bool:
    try:
        message.validate()
    except GS1Error:
        return False
    return True


@fuzz_settings()
@given(text=hostile_text(extra=GS1_ALPHABET))
def test_element_string_random_text(text: str, inputs: InputCounter) -> None:
    _parse_element_string(text, inputs)


@fuzz_settings()
@given(text=mutated_text(ELEMENT_STRINGS, alphabet=GS1_ALPHABET))
def test_element_string_mutations(text: str, inputs: InputCounter) -> None:
    _parse_element_string(text, inputs)


@fuzz_settings(0.25)
@given(text=long_text("0123456789()^\x1dA"))
def test_element_string_long_input_is_refused(text: str, inputs: InputCounter) -> None:
    inputs.tried("gs1.GS1Message.parse")
    assert returns_or_refuses(lambda: GS1Message.parse(text), GS1Error) is None


def _parse_link(uri: str, inputs: InputCounter) -> None:
    inputs.tried("gs1.parse_digital_link")
    for permit in (False, True):
        parts = returns_or_refuses(
            partial(split_digital_link, uri, permit_zero_suppressed_gtin=permit), GS1Error
        )
        message = returns_or_refuses(
            partial(parse_digital_link, uri, permit_zero_suppressed_gtin=permit), GS1Error
        )
        if message is None:
            continue
        assert parts is not None, "a link that parses also splits"
        assert message == parts.message
        assert uri.startswith(parts.stem)
        _check_valid_message(message)


@fuzz_settings()
@given(uri=st.builds(lambda tail: "https://id.gs1.org/" + tail, hostile_text(extra=DL_ALPHABET)))
def test_digital_link_random_text(uri: str, inputs: InputCounter) -> None:
    _parse_link(uri, inputs)


@fuzz_settings()
@given(uri=mutated_text(DIGITAL_LINKS, alphabet=DL_ALPHABET))
def test_digital_link_mutations(uri: str, inputs: InputCounter) -> None:
    _parse_link(uri, inputs)


@fuzz_settings(0.25)
@given(tail=long_text("0123456789/%?&=A"))
def test_digital_link_long_input_is_refused(tail: str, inputs: InputCounter) -> None:
    inputs.tried("gs1.parse_digital_link")
    uri = "https://id.gs1.org/01/" + tail
    assert returns_or_refuses(lambda: parse_digital_link(uri), GS1Error) is None


def _parse_scan(data: bytes | str, inputs: InputCounter) -> None:
    inputs.tried("gs1.parse_scan")
    result = returns_or_refuses(lambda: parse_scan(data), GS1Error)
    if result is None:
        return
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    assert result.raw == raw
    assert result.to_json_dict()["raw"] == raw.hex()
    if result.symbology is not None:
        assert len(result.symbology) == 3
        assert result.symbology.startswith("]")
    if result.message is None:
        assert not result.is_gs1
        assert result.primary_key is None
        return
    assert result.is_gs1
    result.message.validate()
    # Internal AIs (90-99) alone are GS1 data without a primary key.
    assert result.primary_key is None or result.primary_key in result.message.elements
    assert set(result.qualifiers) <= set(result.message.elements)
    _check_message(result.message)


@fuzz_settings()
@given(data=st.one_of(hostile_bytes(), hostile_text(extra=GS1_ALPHABET + "]dQCE")))
def test_scan_random_input(data: bytes | str, inputs: InputCounter) -> None:
    _parse_scan(data, inputs)


@fuzz_settings()
@given(data=mutated_bytes(SCANS))
def test_scan_mutations(data: bytes, inputs: InputCounter) -> None:
    _parse_scan(data, inputs)


@fuzz_settings(0.25)
@given(data=long_bytes(prefix=b"]d201"))
def test_scan_long_input_is_refused(data: bytes, inputs: InputCounter) -> None:
    inputs.tried("gs1.parse_scan")
    assert returns_or_refuses(lambda: parse_scan(data), GS1Error) is None


KEY_PARSERS: list[tuple[str, Callable[[str], Gtin | Sscc | Gln], int]] = [
    ("Gtin", Gtin.parse, 14),
    ("Sscc", Sscc.parse, 18),
    ("Gln", Gln.parse, 13),
]
KEY_SEEDS = [GTIN, GTIN[1:], GTIN[6:], SSCC, GLN, "0" * 14]


@fuzz_settings()
@given(
    text=st.one_of(
        hostile_text(max_size=24, extra="0123456789"),
        mutated_text(KEY_SEEDS, alphabet="0123456789٠١٢³"),
    )
)
def test_keys(text: str, inputs: InputCounter) -> None:
    for name, parse, digits in KEY_PARSERS:
        inputs.tried(f"gs1.{name}.parse")
        key = returns_or_refuses(partial(parse, text), GS1Error)
        if key is None:
            continue
        value = key.value
        assert len(value) == digits, value
        assert _DIGITS.fullmatch(value), value
        assert gs1_check_digit(value[:-1]) == value[-1]
        assert parse(str(key)) == key


COMPRESSED_LINKS = [compress_digital_link(uri) for uri in DIGITAL_LINKS[:3]]
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _decompress(uri: str, inputs: InputCounter) -> None:
    inputs.tried("gs1.decompress_digital_link")
    link = returns_or_refuses(partial(decompress_digital_link, uri), GS1Error)
    if link is not None:
        # What decompresses is a link the parser either reads or refuses by name.
        returns_or_refuses(partial(parse_digital_link, link), GS1Error)


@fuzz_settings()
@given(uri=mutated_text(COMPRESSED_LINKS, alphabet=BASE64URL))
def test_compressed_link_mutations(uri: str, inputs: InputCounter) -> None:
    _decompress(uri, inputs)


@fuzz_settings()
@given(segment=st.text(alphabet=BASE64URL, min_size=6, max_size=200))
def test_compressed_link_random_segments(segment: str, inputs: InputCounter) -> None:
    _decompress(f"https://id.gs1.org/{segment}", inputs)
