"""GS1 Digital Link building and reading."""

from __future__ import annotations

import pytest

from lineside.errors import DigitalLinkError
from lineside.gs1 import GS1Message, parse_digital_link, split_digital_link, to_digital_link
from lineside.gs1.digital_link import percent_decode, percent_encode

GTIN = "08934567890120"


def test_consumer_link_layout() -> None:
    m = GS1Message.parse(f"(17)270115(21)X7K2(10)LOT/7(01){GTIN}(3103)000195")
    assert to_digital_link(m, stem="https://trace.example.vn/dl/") == (
        f"https://trace.example.vn/dl/01/{GTIN}/10/LOT%2F7/21/X7K2?17=270115&3103=000195"
    )


def test_round_trip() -> None:
    m = GS1Message.parse(f"(01){GTIN}(10)LOT7(21)X7K2(17)270115")
    assert parse_digital_link(to_digital_link(m)) == m


def test_sscc_link() -> None:
    m = GS1Message.parse("(00)089345678912345677")
    assert to_digital_link(m) == "https://id.gs1.org/00/089345678912345677"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (
            "(10)LOT7",
            "cannot build a Digital Link: AI (10) requires AI (01), (02), (03), (8006) or (8026)",
        ),
        ("(99)X", "cannot build a Digital Link: no primary key AI in (99)X"),
        (
            f"(01){GTIN}(8200)https://x",
            "cannot build a Digital Link: AI (8200) is not permitted as a data attribute",
        ),
    ],
)
def test_build_errors(text: str, error: str) -> None:
    with pytest.raises(DigitalLinkError) as info:
        to_digital_link(GS1Message.parse(text))
    assert str(info.value) == error


def test_split_keeps_stem_and_ignored_parameters() -> None:
    parts = split_digital_link(f"https://a.example/p/q/01/{GTIN}/21/S1?17=270115&utm=x#frag")
    assert parts.stem == "https://a.example/p/q"
    assert parts.primary_key.value == GTIN
    assert [q.ai for q in parts.qualifiers] == ["21"]
    assert [a.ai for a in parts.attributes] == ["17"]
    assert parts.ignored_query == ("utm=x",)


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        ("ftp://a/01/x", "Digital Link must start with http:// or https://, got 'ftp://a/01/x'"),
        (f"https://a/01/{GTIN}/", "Digital Link: the path must not end with '/'"),
        ("https://a/b/c", "Digital Link: no primary key AI found in path '/b/c'"),
        (
            f"https://a/01/{GTIN}?10=A",
            "Digital Link: AI (10) belongs in the path, not the query string",
        ),
        (
            f"https://a/01/{GTIN}/21/S/10/L",
            "Digital Link: path qualifiers 21,10 are not valid "
            "after AI (01) (allowed in order: 22,10,21 or 235)",
        ),
        (
            "https://a/01/8934567890120",
            "Digital Link: GTIN 8934567890120 must have 14 digits (zero-suppressed GTIN)",
        ),
        (f"https://a/01/{GTIN}?999=x", "Digital Link: query parameter '999' is not a known AI"),
        (
            f"https://a/01/{GTIN}?17=261232",
            "Digital Link: AI (17): 261232 is not a valid date (not a valid day at position 5)",
        ),
        (
            f"https://a/01/{GTIN}<",
            "Digital Link: character '<' at position 28 is not allowed in a URI",
        ),
    ],
)
def test_parse_errors(uri: str, error: str) -> None:
    with pytest.raises(DigitalLinkError) as info:
        parse_digital_link(uri)
    assert str(info.value) == error


def test_zero_suppressed_gtin_when_permitted() -> None:
    m = parse_digital_link("https://a/01/8934567890120", permit_zero_suppressed_gtin=True)
    assert m.get("01") == GTIN


def test_percent_coding() -> None:
    assert percent_encode("Bắc Kạn") == "B%E1%BA%AFc%20K%E1%BA%A1n"
    assert percent_encode("a b", query=True) == "a+b"
    assert percent_decode("a+b%2F", query=True) == "a b/"
    assert percent_decode("a+b%2F") == "a+b/"


def test_convenience_alphas_are_an_option() -> None:
    uri = f"https://t.example.vn/app/gtin/{GTIN}/lot/LOT7/ser/X7K2?17=270115"
    with pytest.raises(DigitalLinkError):
        parse_digital_link(uri)
    message = parse_digital_link(uri, permit_convenience_alphas=True)
    assert message.as_bracketed() == f"(01){GTIN}(10)LOT7(21)X7K2(17)270115"
    # The stem keeps its own segments; a value that reads like a short name stays data.
    parts = split_digital_link(
        f"https://t.example.vn/lot/gtin/{GTIN}/ser/gtin", permit_convenience_alphas=True
    )
    assert parts.stem == "https://t.example.vn/lot"
    assert parts.qualifiers[0].value == "gtin"
    with pytest.raises(DigitalLinkError):
        parse_digital_link(f"https://a.example/zzz/{GTIN}", permit_convenience_alphas=True)


def test_unknown_ais_as_data_attributes_are_an_option() -> None:
    uri = f"https://a.example/01/{GTIN}?99=XYZ&89=ABC123"
    with pytest.raises(DigitalLinkError) as info:
        parse_digital_link(uri)
    assert str(info.value) == "Digital Link: query parameter '89' is not a known AI"
    message = parse_digital_link(uri, permit_unknown_ais=True)
    assert message.as_bracketed() == f"(01){GTIN}(99)XYZ(89)ABC123"
    assert to_digital_link(message, stem="https://a.example", permit_unknown_ais=True) == uri
    with pytest.raises(DigitalLinkError):
        to_digital_link(message)
    # Unknown AIs still need GS1 character set 82 values.
    with pytest.raises(DigitalLinkError):
        parse_digital_link(f"https://a.example/01/{GTIN}?89=A%7EB", permit_unknown_ais=True)
