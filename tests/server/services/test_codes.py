"""Reading codes with the project's GS1 parser, checked against biip as an oracle."""

from __future__ import annotations

from datetime import date

import biip
import pytest
from biip.gs1_messages import GS1Message
from hypothesis import given
from hypothesis import strategies as st

from lineside.errors import GS1Error
from lineside.gs1.keys import gs1_check_digit
from server.services.codes import CodeRef, expiry_date, parse_code

VALUES = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefgh0123456789-.", min_size=1, max_size=20)
GTINS = st.from_regex(r"0[0-9]{12}", fullmatch=True).map(lambda body: body + gs1_check_digit(body))
DATES = st.dates(min_value=date(2000, 1, 1), max_value=date(2049, 12, 31))


def _oracle(text: str) -> CodeRef:
    """What biip reads in a bracketed element string."""
    values: dict[str, str] = {}
    expiry = None
    for element in GS1Message.parse_hri(text).element_strings:
        values.setdefault(element.ai.ai, element.value)
        if element.ai.ai == "17":
            expiry = element.date
    return CodeRef(
        gtin=values.get("01"), lot=values.get("10"), serial=values.get("21"), expiry=expiry
    )


@given(gtin=GTINS, lot=VALUES, serial=VALUES, expiry=DATES)
def test_every_form_reads_like_the_oracle(gtin: str, lot: str, serial: str, expiry: date) -> None:
    yymmdd = f"{expiry:%y%m%d}"
    bracketed = f"(01){gtin}(17){yymmdd}(10){lot}(21){serial}"
    expected = _oracle(bracketed)
    raw = f"01{gtin}17{yymmdd}10{lot}\x1d21{serial}"
    assert expected.expiry == expiry
    assert parse_code(bracketed) == expected
    assert parse_code(raw) == expected
    assert parse_code("]d2" + raw) == expected
    link = f"https://id.example.vn/01/{gtin}/10/{lot}/21/{serial}?17={yymmdd}"
    dl = biip.parse(link).gs1_digital_link_uri
    assert dl is not None
    assert parse_code(link) == _oracle(dl.as_gs1_message().as_hri())


def test_sscc_in_every_form() -> None:
    sscc = "089345678912345677"
    for text in (f"(00){sscc}", f"00{sscc}", f"]C100{sscc}", f"https://id.gs1.org/00/{sscc}"):
        assert parse_code(text) == CodeRef(sscc=sscc)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(01)08934567890121(21)X", "check digit"),
        ("(10)LOT", "neither a GTIN"),
        ("https://id.example.vn/01/08934567890120?10=L1", "belongs in the path"),
        ("https://id.example.vn/01/123", "too short"),
        ("]Q1hello", "not a GS1 code"),
        ("hello", "no known AI"),
        ("urn:epc:id:sgln:8934567.00001.0", "only sgtin and sscc"),
        ("", "empty"),
    ],
)
def test_unusable_codes_say_why(text: str, message: str) -> None:
    with pytest.raises(GS1Error, match=message):
        parse_code(text)


@pytest.mark.parametrize(
    ("yymmdd", "today", "expected"),
    [
        ("270315", date(2026, 6, 1), date(2027, 3, 15)),
        ("240200", date(2026, 6, 1), date(2024, 2, 29)),
        ("760101", date(2026, 6, 1), date(2076, 1, 1)),
        ("770101", date(2026, 6, 1), date(1977, 1, 1)),
        ("010101", date(2099, 6, 1), date(2101, 1, 1)),
    ],
)
def test_expiry_dates_follow_the_gs1_century_rule(yymmdd: str, today: date, expected: date) -> None:
    assert expiry_date(yymmdd, today) == expected
