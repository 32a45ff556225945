"""The calibration self-test: precise diagnoses of what a reader changed."""

from __future__ import annotations

from edge.scanners.hid import FR, US, GsMode, KeyboardLayout, KeycodeDecoder, encode_keys
from edge.scanners.selftest import (
    CALIBRATION_ELEMENT_STRING,
    CALIBRATION_MESSAGE,
    CALIBRATION_SYMBOLOGY,
    GS,
    check_calibration,
)
from lineside.gs1 import GS1Message, parse_scan

GOOD = CALIBRATION_SYMBOLOGY + CALIBRATION_ELEMENT_STRING


def typed(
    text: str, reader: KeyboardLayout, host: KeyboardLayout, gs_mode: GsMode = GsMode.CTRL_BRACKET
) -> bytes:
    decoder = KeycodeDecoder(host)
    events = encode_keys(text, reader, gs_mode=gs_mode)
    return next(f for code, value in events for f in decoder.feed(code, value)).data


def test_calibration_code_is_valid_gs1_in_set_82_with_gs_after_variable_field() -> None:
    message = GS1Message.parse(CALIBRATION_MESSAGE)
    assert [(e.ai, e.value) for e in message.elements] == [
        ("01", "08934567890120"),
        ("10", "AZqw-M.1/y"),
        ("21", "SELF_TEST"),
    ]
    result = parse_scan(GOOD.encode())
    assert result.is_gs1
    assert result.message is not None
    assert result.message.get("10") == "AZqw-M.1/y"
    assert result.message.get("21") == "SELF_TEST"
    assert GS in CALIBRATION_ELEMENT_STRING


def test_perfect_read_passes_and_says_what_survived() -> None:
    report = check_calibration(GOOD.encode())
    assert report.passed
    assert [f.message for f in report.findings] == [
        "symbology identifier ]d2 present",
        "GS separator present",
        f"all {len(CALIBRATION_ELEMENT_STRING)} characters arrived intact",
    ]


def test_missing_gs_on_a_wedge() -> None:
    report = check_calibration(GOOD.replace(GS, ""))
    assert report.problems == [
        "GS separator missing: the reader is in keyboard-wedge mode without GS substitution"
    ]


def test_missing_gs_on_a_serial_reader() -> None:
    report = check_calibration(GOOD.replace(GS, ""), wedge=False)
    assert report.problems == [
        "GS separator missing: the reader does not transmit FNC1 as GS (0x1D); "
        "enable it in the reader's GS1 settings"
    ]


def test_substituted_gs_names_the_character() -> None:
    report = check_calibration(GOOD.replace(GS, "|"))
    assert report.problems == [
        "GS separator arrived as '|': set the driver's GS substitution character to '|'"
    ]


def test_missing_symbology_identifier() -> None:
    report = check_calibration(CALIBRATION_ELEMENT_STRING)
    assert report.problems == [
        "symbology identifier missing: enable AIM identifier transmission on the reader "
        "(expected ]d2)"
    ]


def test_gs1_mode_off() -> None:
    report = check_calibration("]d1" + CALIBRATION_ELEMENT_STRING)
    assert report.problems == [
        "symbology identifier ]d1 received, expected ]d2: the reader does not recognise FNC1 "
        "(GS1 mode off)"
    ]


def test_us_reader_on_azerty_host() -> None:
    report = check_calibration(typed(GOOD, US, FR))
    assert not report.passed
    assert report.problems[0] == (
        "keyboard layout mismatch: the reader types for a 'us' keyboard but the host decodes "
        "'fr'; set both to the same layout"
    )
    assert "character 'Z' arrived as 'W': keyboard layout mismatch" in report.problems
    assert "character '0' arrived as 'à': keyboard layout mismatch" in report.problems


def test_layout_mismatch_and_dropped_gs_are_both_reported() -> None:
    raw = typed(GOOD.replace(GS, ""), US, FR)
    problems = check_calibration(raw).problems
    assert problems[1] == (
        "GS separator missing: the reader is in keyboard-wedge mode without GS substitution"
    )


def test_same_layout_with_ctrl_bracket_passes() -> None:
    assert check_calibration(typed(GOOD, FR, FR, gs_mode=GsMode.CTRL_BRACKET)).passed


def test_caps_lock_diagnosis() -> None:
    report = check_calibration(CALIBRATION_SYMBOLOGY + CALIBRATION_ELEMENT_STRING.swapcase())
    assert (
        "character 'q' arrived as 'Q': letter case inverted (Caps Lock on, or the reader "
        "converts case)"
    ) in report.problems


def test_single_misread_and_lost_characters() -> None:
    report = check_calibration(GOOD.replace("SELF", "SEIF"))
    assert report.problems == ["character 'L' arrived as 'I': misread or transmission error"]
    report = check_calibration(GOOD.replace("-M.", "-."))
    assert report.problems == ["characters 'M' missing at position 23"]


def test_invalid_utf8_is_a_finding_not_an_exception() -> None:
    report = check_calibration(GOOD.encode() + b"\xff")
    assert report.problems[0].startswith(f"invalid UTF-8 at byte {len(GOOD)}")
