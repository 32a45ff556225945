"""Check digits and the GTIN, SSCC and GLN keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside.errors import GS1Error
from lineside.gs1 import Gln, Gtin, Sscc, gs1_check_digit


def test_check_digit_of_known_keys() -> None:
    assert gs1_check_digit("0893456789012") == "0"
    assert gs1_check_digit("1234567890123") == "1"
    assert gs1_check_digit("0234567") == "3"


@pytest.mark.parametrize("bad", ["", "12a", "١٢٣"])
def test_check_digit_rejects_non_digits(bad: str) -> None:
    with pytest.raises(GS1Error, match="non-empty string of digits"):
        gs1_check_digit(bad)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("02345673", "00000002345673"),
        ("416000336108", "00416000336108"),
        ("8934567890120", "08934567890120"),
        ("18934567890127", "18934567890127"),
    ],
)
def test_gtin_parse_pads_to_14(text: str, value: str) -> None:
    assert Gtin.parse(text).value == value


def test_gtin_as_gtin13() -> None:
    assert Gtin.parse("8934567890120").as_gtin13() == "8934567890120"
    assert Gtin.parse("18934567890127").as_gtin13() is None


def test_gtin_bad_check_digit_message() -> None:
    with pytest.raises(GS1Error) as info:
        Gtin.parse("08934567890127")
    assert str(info.value) == "GTIN 08934567890127: check digit 0 expected, got 7"


def test_gtin_bad_length_message() -> None:
    with pytest.raises(GS1Error) as info:
        Gtin.parse("123456789")
    assert str(info.value) == "GTIN 123456789: expected 8 or 12 or 13 or 14 digits, got 9"


def test_gtin_constructor_needs_14_digits() -> None:
    with pytest.raises(GS1Error, match="expected 14 digits"):
        Gtin("8934567890120")


def test_sscc_build_and_parse() -> None:
    sscc = Sscc.build("893456789", 1234567)
    assert sscc.value == "089345678912345677"
    assert Sscc.parse(sscc.value) == sscc
    assert Sscc.build("8934567", "42", extension=3).value == "389345670000000421"
    assert Sscc.build("8934567", "42", extension=3).extension == 3


def test_sscc_reference_that_does_not_fit() -> None:
    with pytest.raises(GS1Error) as info:
        Sscc.build("893456789", 12345678)
    assert str(info.value) == (
        "SSCC serial reference 12345678: 8 digits do not fit the 7 left by company prefix 893456789"
    )


@pytest.mark.parametrize(
    ("prefix", "reference", "extension", "message"),
    [
        ("89A", 1, 0, "SSCC company prefix '89A': expected digits only"),
        ("893", 1, 0, "SSCC company prefix 893: expected 4 to 12 digits, got 3"),
        ("8934567", 1, 10, "SSCC extension digit must be 0 to 9, got 10"),
        ("8934567", -1, 0, "SSCC serial reference '-1': expected digits only"),
    ],
)
def test_sscc_build_errors(prefix: str, reference: int, extension: int, message: str) -> None:
    with pytest.raises(GS1Error) as info:
        Sscc.build(prefix, reference, extension)
    assert str(info.value) == message


def test_gln() -> None:
    assert Gln.parse("8934567000000").value == "8934567000000"
    with pytest.raises(GS1Error) as info:
        Gln.parse("8934567000001")
    assert str(info.value) == "GLN 8934567000001: check digit 0 expected, got 1"


@given(st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_every_gtin_body_gets_a_valid_key(body: str) -> None:
    gtin = Gtin.parse(body + gs1_check_digit(body))
    assert gtin.value == body + gs1_check_digit(body)
    wrong = str((int(gtin.value[-1]) + 1) % 10)
    with pytest.raises(GS1Error):
        Gtin.parse(body + wrong)
