"""Element strings: parsing, rendering and dictionary validation."""

from __future__ import annotations

import pytest

from lineside.errors import GS1Error
from lineside.gs1 import GS, ElementString, GS1Message, find_swallowed, syntax_dictionary

GTIN = "08934567890120"


def message(*pairs: tuple[str, str]) -> GS1Message:
    return GS1Message.from_pairs(pairs)


@pytest.mark.parametrize(
    "text",
    [
        f"(01){GTIN}(10)LOT7(21)X7K2",
        f"01{GTIN}10LOT7{GS}21X7K2",
        f"^01{GTIN}10LOT7^21X7K2",
        f"{GS}01{GTIN}10LOT7{GS}21X7K2",
        f"01{GTIN}10LOT7{GS}21X7K2{GS}",
    ],
)
def test_parse_forms(text: str) -> None:
    assert GS1Message.parse(text) == message(("01", GTIN), ("10", "LOT7"), ("21", "X7K2"))


def test_render_forms() -> None:
    m = message(("10", "LOT(7"), ("01", GTIN), ("17", "261231"), ("21", "X7K2"))
    assert m.as_bracketed() == f"(10)LOT\\(7(01){GTIN}(17)261231(21)X7K2"
    assert m.as_raw() == f"10LOT(7{GS}01{GTIN}17261231" + "21X7K2"
    assert m.as_raw(separator="^") == f"10LOT(7^01{GTIN}1726123121X7K2"
    assert m.as_hri() == [
        "(10) LOT(7",
        f"(01) {GTIN}",
        "(17) 261231",
        "(21) X7K2",
    ]
    assert GS1Message.parse(m.as_bracketed()) == m


def test_get_and_ais() -> None:
    m = message(("01", GTIN), ("10", "A"))
    assert m.get("10") == "A"
    assert m.get("21") is None
    assert m.ais() == ("01", "10")


def test_missing_separator_is_reported() -> None:
    with pytest.raises(GS1Error) as info:
        GS1Message.parse(f"01{GTIN}10LOT12321ABC")
    assert str(info.value) == (
        "AI (10): value 'LOT12321ABC' may contain AI (21) — FNC1 separator missing?"
    )


def test_missing_separator_check_can_be_waived_for_trusted_readers() -> None:
    m = GS1Message.parse(f"01{GTIN}10LOT12321ABC", separators_trusted=True)
    assert m.get("10") == "LOT12321ABC"


def test_value_without_embedded_ai_is_trusted() -> None:
    assert GS1Message.parse(f"01{GTIN}10LOTABC").get("10") == "LOTABC"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty element string"),
        ("(01)123", "AI (01): value '123' is 3 characters, at least 14 needed"),
        ("(10)", "AI (10): value is empty"),
        ("(1A)12", "bracketed element string: AI '1A' at position 1 must be 2 to 4 digits"),
        ("(01", "bracketed element string: AI at position 1 not closed"),
        ("(10)AB^C", "AI (10): character '^' at position 7 is not allowed in a value"),
        ("(89)X", "AI (89) is not in the GS1 syntax dictionary"),
        ("^891234", "element string: no known AI at position 2 ('8912')"),
        ("^01123", "AI (01): 14 characters expected at position 4, got '123'"),
        ("^10" + "A" * 21, f"AI (10): value '{'A' * 21}' is 21 characters, at most 20 allowed"),
        ("^10A^^21B", "element string: empty field at position 6"),
        ("^", "element string holds no AI"),
    ],
)
def test_parse_errors(text: str, error: str) -> None:
    with pytest.raises(GS1Error) as info:
        GS1Message.parse(text)
    assert str(info.value) == error


def test_unknown_ais_in_bracketed_form_when_permitted() -> None:
    m = GS1Message.parse("(89)X(01)" + GTIN, permit_unknown_ais=True)
    assert m.as_raw(separator="^") == "89X^01" + GTIN


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("(01)08934567890127", "AI (01): check digit 0 expected, got 7"),
        (
            f"(01){GTIN}(17)260231",
            "AI (17): 260231 is not a valid date (not a valid day at position 5)",
        ),
        (
            f"(01){GTIN}(17)261301",
            "AI (17): 261301 is not a valid date (not a valid month at position 3)",
        ),
        (
            f"(01){GTIN}(10)A B",
            "AI (10): A B is not valid (character outside GS1 character set 82 at position 2)",
        ),
        (
            f"(01){GTIN}(422)999",
            "AI (422): 999 is not valid (not an ISO 3166 numeric country code at position 1)",
        ),
        ("(21)ABC", "AI (21) requires AI (01), (03) or (8006)"),
        (f"(01){GTIN}(37)5", "AI (01) cannot be used with AI (37)"),
        (f"(01){GTIN}(10)A(10)B", "AI (10) appears twice with different values: 'A' and 'B'"),
        (
            "(255)8934567000000(8030)ABC",
            "AI (8030) needs a serialised key: AI (255) 8934567000000 has no serial component",
        ),
        ("(7004)12(01)" + GTIN, "AI (7004) requires AI (01)+(10)"),
    ],
)
def test_validate_errors(text: str, error: str) -> None:
    with pytest.raises(GS1Error) as info:
        GS1Message.parse(text).validate()
    assert str(info.value) == error


def test_validate_accepts_a_full_unit_code() -> None:
    m = GS1Message.parse(f"(01){GTIN}(11)260115(17)270115(10)LOT7(21)X7K2")
    m.validate()
    assert m.elements[0].title == "GTIN"


def test_repeated_ai_with_same_value_is_allowed() -> None:
    GS1Message.parse(f"(01){GTIN}(10)A(10)A").validate()


def test_from_pairs_checks_ais() -> None:
    with pytest.raises(GS1Error, match=r"AI \(89\) is not in the GS1 syntax dictionary"):
        GS1Message.from_pairs([("89", "X")])
    with pytest.raises(GS1Error, match="at least one element string"):
        GS1Message.from_pairs([])


def test_element_string_rendering() -> None:
    assert ElementString("01", GTIN).as_hri() == f"(01) {GTIN}"
    assert ElementString("10", "A(B").as_bracketed() == "(10)A\\(B"


def test_dictionary_facts() -> None:
    d = syntax_dictionary()
    assert d.release == "2026-01-27"
    assert not d["01"].fnc1_required
    assert d["10"].fnc1_required
    assert d["01"].dl_qualifiers == (("22", "10", "21"), ("235",))
    assert d["3103"].excludes == ("310n",)
    assert d.match_ai("8200http") == "8200"
    assert d.match_ai("1") is None
    with pytest.raises(GS1Error, match=r"AI \(89\) is not in the GS1 syntax dictionary"):
        d["89"]


def test_unknown_ais_in_raw_data_are_an_option() -> None:
    with pytest.raises(GS1Error):
        GS1Message.parse("^236ABC\x1d10LOT")
    m = GS1Message.parse("^236ABC\x1d8299XYZ", permit_unknown_ais=True)
    assert m.as_hri() == ["(236) ABC", "(8299) XYZ"]
    m.validate(permit_unknown_ais=True)
    with pytest.raises(GS1Error) as info:
        m.validate()
    assert str(info.value) == "AI (236) is not in the GS1 syntax dictionary"
    # No known AI shares the first two digits of 89, so its length is unknown.
    with pytest.raises(GS1Error) as info:
        GS1Message.parse("^89ABC", permit_unknown_ais=True)
    assert str(info.value) == "element string: no known AI at position 2 ('89AB')"


def test_structural_company_prefix_checks() -> None:
    with pytest.raises(GS1Error) as info:
        GS1Message.parse("(401)123").validate()
    assert "shorter than the shortest GS1 Company Prefix" in str(info.value)
    with pytest.raises(GS1Error) as info:
        GS1Message.parse("(7023)12A4").validate()
    assert "not a valid GS1 Company Prefix at position 3" in str(info.value)


@pytest.mark.parametrize(
    ("iban", "valid"),
    [("FR7630006000011234567890189", True), ("FR1234", False), ("NO9386011117947", True)],
)
def test_iban_length(iban: str, valid: bool) -> None:
    message = GS1Message.parse(f"(8007){iban}(415)8934567890120(8020)INV1")
    if valid:
        message.validate()
    else:
        with pytest.raises(GS1Error, match="IBAN too short"):
            message.validate()


def test_find_swallowed_reports_the_split() -> None:
    message = GS1Message.parse(f"01{GTIN}10LOT121SERIAL", separators_trusted=True)
    found = find_swallowed(message)
    assert found is not None
    assert (found.ai, found.value, found.offset, found.hidden_ai) == (
        "10",
        "LOT121SERIAL",
        4,
        "21",
    )
    assert found.hidden.as_bracketed() == "(21)SERIAL"
    # A head longer than the AI's longest value cannot be the real value.
    long_value = GS1Message((ElementString("01", GTIN), ElementString("10", "A" * 500 + "21X")))
    assert find_swallowed(long_value) is None
    # Predefined-length last AI: nothing can be swallowed.
    assert find_swallowed(GS1Message.parse(f"(10)A21B(01){GTIN}")) is None
