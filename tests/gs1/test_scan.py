"""Barcode-reader scan data."""

from __future__ import annotations

import pytest

from lineside.errors import ScanDataError
from lineside.gs1 import ElementString, parse_scan

GTIN = "08934567890120"


def test_gs1_datamatrix() -> None:
    raw = f"]d201{GTIN}10LOT7\x1d21X7K2".encode()
    result = parse_scan(raw)
    assert result.raw == raw
    assert result.symbology == "]d2"
    assert result.symbology_name == "GS1 DataMatrix"
    assert result.is_gs1
    assert result.message is not None
    assert result.message.as_bracketed() == f"(01){GTIN}(10)LOT7(21)X7K2"
    assert result.primary_key == ElementString("01", GTIN)
    assert result.qualifiers == (ElementString("10", "LOT7"), ElementString("21", "X7K2"))
    assert result.digital_link is None
    assert result.text == f"01{GTIN}10LOT7\x1d21X7K2"


@pytest.mark.parametrize(
    ("prefix", "name"),
    [("]Q3", "GS1 QR Code"), ("]C1", "GS1-128"), ("]e0", "GS1 DataBar"), ("]J1", "GS1 DotCode")],
)
def test_other_gs1_symbologies(prefix: str, name: str) -> None:
    result = parse_scan(f"{prefix}01{GTIN}17270115")
    assert result.symbology_name == name
    assert result.message is not None
    assert result.message.get("17") == "270115"


def test_last_value_with_embedded_ai_is_kept_but_flagged() -> None:
    # A well-formed symbol may end with a serial that contains "10AB": not rejected...
    result = parse_scan(f"]d201{GTIN}21X7K210AB")
    assert result.message is not None
    assert result.message.get("21") == "X7K210AB"
    # ...but not silently believed either.
    assert result.warnings == (
        "suspect_missing_gs: AI (21) value 'X7K210AB' may end with AI (10) at position 23 "
        "('10AB'): GS separator missing?",
    )


def test_swallowed_serial_with_symbology_identifier_is_flagged() -> None:
    result = parse_scan(f"]d201{GTIN}10LOT121SERIAL".encode())
    assert result.message is not None
    assert result.message.get("10") == "LOT121SERIAL"
    assert result.message.get("21") is None
    assert result.warnings == (
        "suspect_missing_gs: AI (10) value 'LOT121SERIAL' may end with AI (21) at position 23 "
        "('21SERIAL'): GS separator missing?",
    )
    assert result.to_json_dict()["warnings"] == list(result.warnings)


def test_strict_refuses_a_suspect_read() -> None:
    with pytest.raises(ScanDataError) as info:
        parse_scan(f"]d201{GTIN}10LOT121SERIAL".encode(), strict=True)
    assert str(info.value) == (
        "scan data (]d2 GS1 DataMatrix): suspect_missing_gs: AI (10) value 'LOT121SERIAL' "
        "may end with AI (21) at position 23 ('21SERIAL'): GS separator missing?"
    )


@pytest.mark.parametrize(
    "data",
    [
        # The reader transmits separators: the serial's "10AB" is data.
        f"]d201{GTIN}10LOT7\x1d21X7K210AB",
        # FNC1 in first position is not a separator between fields, the GS is.
        f"]C1\x1d01{GTIN}10LOT7\x1d21X7K210AB",
        # No embedded AI.
        f"]d201{GTIN}10LOTABC",
        # The only split repeats AI (21) with another value: impossible in a valid symbol.
        f"]d201{GTIN}21ABC21XYZ",
        # The tail's value is not valid for its AI (17 needs a date).
        f"]d201{GTIN}10LOT17ABCDEF",
        # Predefined-length last value.
        f"]d210LOT\x1d01{GTIN}",
    ],
)
def test_clean_reads_carry_no_warning(data: str) -> None:
    result = parse_scan(data)
    assert result.warnings == ()
    assert parse_scan(data, strict=True) == result


def test_warning_names_the_first_plausible_split() -> None:
    # "17" + a valid date is the first hidden element string in the lot.
    result = parse_scan(f"]d201{GTIN}10AB17270115")
    assert result.warnings == (
        "suspect_missing_gs: AI (10) value 'AB17270115' may end with AI (17) at position 21 "
        "('17270115'): GS separator missing?",
    )


def test_digital_link_in_plain_qr() -> None:
    uri = f"https://id.gs1.org/01/{GTIN}/10/LOT7/21/X7K2?17=270115"
    result = parse_scan(f"]Q1{uri}")
    assert result.is_gs1
    assert result.digital_link == uri
    assert result.primary_key == ElementString("01", GTIN)
    assert [q.ai for q in result.qualifiers] == ["10", "21"]
    assert result.message is not None
    assert result.message.get("17") == "270115"


def test_digital_link_without_identifier_and_with_line_end() -> None:
    result = parse_scan(f"https://id.gs1.org/01/{GTIN}\r\n".encode())
    assert result.symbology is None
    assert result.digital_link == f"https://id.gs1.org/01/{GTIN}"


@pytest.mark.parametrize(
    ("data", "gtin"),
    [
        (b"]E08934567890120", GTIN),
        (b"]E402345673", "00000002345673"),
        (b"8934567890120", GTIN),
        (b"416000336108", "00416000336108"),
    ],
)
def test_gtin_reads(data: bytes, gtin: str) -> None:
    result = parse_scan(data)
    assert result.is_gs1
    assert result.primary_key == ElementString("01", gtin)


@pytest.mark.parametrize(
    "data", [b"]Q1hello", b"8934567890121", b"https://example.com/", "xin chào".encode(), b""]
)
def test_plain_text(data: bytes) -> None:
    result = parse_scan(data)
    assert not result.is_gs1
    assert result.message is None
    assert result.primary_key is None
    assert result.text == data.decode().removeprefix("]Q1")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"]d2\xff01", "scan data: invalid UTF-8 at byte 4 (0xFF); expected text"),
        (b"]1", "scan data: position 1: expected an AIM symbology identifier like ]d2, got ']1'"),
        (
            b"]E0893456789012",
            "scan data (]E0 EAN-13): expected 13 digits with a valid check "
            "digit, got '893456789012'",
        ),
        (
            b"]d20108934567890127",
            "scan data (]d2 GS1 DataMatrix): AI (01): check digit 0 expected, got 7",
        ),
        (
            b"]C1011234567890123",
            "scan data (]C1 GS1-128): AI (01): 14 characters expected at "
            "position 3, got '1234567890123'",
        ),
        (
            f"https://id.gs1.org/01/{GTIN}?17=270230".encode(),
            "scan data: Digital Link: AI (17): "
            "270230 is not a valid date (not a valid day at position 5)",
        ),
        ("\ud800", "scan data: character '\\ud800' at position 1 cannot be encoded"),
    ],
)
def test_errors(data: bytes | str, error: str) -> None:
    with pytest.raises(ScanDataError) as info:
        parse_scan(data)
    assert str(info.value) == error


def test_json_dict() -> None:
    data = parse_scan(f"]d201{GTIN}21S1".encode()).to_json_dict()
    assert data["symbology"] == "]d2"
    assert data["bracketed"] == f"(01){GTIN}(21)S1"
    assert data["primary_key"] == {"ai": "01", "value": GTIN}
    assert data["qualifiers"] == [{"ai": "21", "value": "S1"}]
    assert bytes.fromhex(data["raw"]).decode() == f"]d201{GTIN}21S1"
