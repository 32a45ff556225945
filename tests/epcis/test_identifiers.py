from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineside.epcis import identifiers
from lineside.epcis.identifiers import canonical_digital_link, epc_urn, gs1_check_digit


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Facts worked out by hand from the EPC Tag Data Standard partition rules.
        ("urn:epc:id:sgtin:8934567.089012.Ab3x", "https://id.gs1.org/01/08934567890120/21/Ab3x"),
        ("urn:epc:id:sscc:8934567.3000000001", "https://id.gs1.org/00/389345670000000018"),
        ("urn:epc:id:sgln:8934567.00001.0", "https://id.gs1.org/414/8934567000017"),
        ("urn:epc:id:sgln:8934567.00001.L1", "https://id.gs1.org/414/8934567000017/254/L1"),
        ("urn:epc:id:pgln:8934567.00001", "https://id.gs1.org/417/8934567000017"),
        (
            "urn:epc:class:lgtin:8934567.089012.L2405",
            "https://id.gs1.org/01/08934567890120/10/L2405",
        ),
        ("urn:epc:idpat:sgtin:8934567.089012.*", "https://id.gs1.org/01/08934567890120"),
        (
            "urn:epc:id:sgtin:8934567.089012.a(b)",
            "https://id.gs1.org/01/08934567890120/21/a%28b%29",
        ),
        (
            "https://example.vn/01/8934567890120/21/Ab3x",
            "https://id.gs1.org/01/08934567890120/21/Ab3x",
        ),
        (
            "https://id.gs1.org/gtin/08934567890120/lot/L1/ser/S1",
            "https://id.gs1.org/01/08934567890120/21/S1",
        ),
        (
            "https://id.gs1.org/01/08934567890120/10/L1?17=251231",
            "https://id.gs1.org/01/08934567890120/10/L1",
        ),
        ("https://id.gs1.org/sscc/389345670000000018", "https://id.gs1.org/00/389345670000000018"),
    ],
)
def test_known_conversions(value: str, expected: str) -> None:
    assert canonical_digital_link(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "urn:epcglobal:cbv:bt:0614141073467:1152",
        "http://transaction.acme.com/po/12345678",
        "https://id.gs1.org/99/9780345418913",
        "urn:epc:id:sgtin:8934567.08901.1",  # prefix + item reference is not 13 digits
        "urn:epc:id:sscc:8934567.300000000",
        "Hello World!",
        "42",
    ],
)
def test_non_identifiers_give_none(value: str) -> None:
    assert canonical_digital_link(value) is None


def test_check_digit() -> None:
    assert gs1_check_digit("893456789012") == "0"
    assert gs1_check_digit("38934567000000001") == "8"


@given(st.text())
def test_random_text_never_crashes(value: str) -> None:
    result = canonical_digital_link(value)
    assert result is None or result.startswith("https://id.gs1.org/")


@given(
    prefix_len=st.integers(6, 12),
    digits=st.text("0123456789", min_size=13, max_size=13),
    serial=st.text("ABCabc0123456789-_", min_size=1, max_size=20),
)
def test_sgtin_gives_a_gtin_with_a_valid_check_digit(
    prefix_len: int, digits: str, serial: str
) -> None:
    prefix, item_ref = digits[1 : prefix_len + 1], digits[0] + digits[prefix_len + 1 :]
    result = canonical_digital_link(f"urn:epc:id:sgtin:{prefix}.{item_ref}.{serial}")
    assert result is not None
    gtin = result.split("/")[4]
    assert gtin[:13] == item_ref[0] + prefix + item_ref[1:]
    assert gtin[13] == gs1_check_digit(gtin[:13])
    assert result.endswith(f"/21/{serial}")
    # The canonical form is a fixed point.
    assert canonical_digital_link(result) == result


@given(
    prefix_length=st.integers(6, 12),
    digits=st.text("0123456789", min_size=13, max_size=13),
    serial=st.text("ABCabc019-._!*()", min_size=1, max_size=20),
    sscc=st.booleans(),
)
def test_urn_and_digital_link_round_trip(
    prefix_length: int, digits: str, serial: str, sscc: bool
) -> None:
    """Both directions of the one converter agree: URN -> Digital Link -> the same URN."""
    prefix, rest = digits[:prefix_length], digits[prefix_length:]
    if sscc:
        urn = f"urn:epc:id:sscc:{prefix}.{(rest + '0000000000')[: 17 - prefix_length]}"
    else:
        urn = f"urn:epc:id:sgtin:{prefix}.{rest}.{serial}"
    link = canonical_digital_link(urn)
    assert link is not None
    assert epc_urn(link, prefix_length) == urn


@settings(max_examples=400)
@given(
    st.text(alphabet="0123456789١", min_size=13, max_size=15),
    st.text(alphabet="AZaz09!%&'()*+,-.:;<=>?_\"/#?é ", min_size=0, max_size=12),
)
def test_canonical_items_take_a_short_path_to_the_same_answer(gtin: str, serial: str) -> None:
    # An item already written canonically is recognised without being taken apart; the
    # answer must be the one taking it apart gives, valid or not.
    value = f"https://id.gs1.org/01/{gtin}/21/{serial}"
    assert canonical_digital_link(value) == identifiers._from_digital_link(value)
