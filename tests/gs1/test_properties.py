"""Property tests: encode/parse round trips, and hostile input never escapes."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lineside.errors import GS1Error, InvalidInput
from lineside.gs1 import (
    ElementString,
    GS1Message,
    gs1_check_digit,
    parse_digital_link,
    parse_scan,
    to_digital_link,
)
from lineside.gs1.dictionary import syntax_dictionary
from lineside.gs1.linters import CSET82, LINTER_NAMES, lint

gtins = st.text(alphabet="0123456789", min_size=13, max_size=13).map(
    lambda body: body + gs1_check_digit(body)
)
x_values = st.text(alphabet=CSET82, min_size=1, max_size=20)
dates = st.builds(
    lambda y, m, d: f"{y:02d}{m:02d}{d:02d}",
    st.integers(0, 99),
    st.integers(1, 12),
    st.integers(1, 28),
)


@st.composite
def unit_messages(draw: st.DrawFn) -> GS1Message:
    """GTIN + optional lot, serial, dates, count in a random order."""
    pairs = [("01", draw(gtins))]
    for ai, strategy in (
        ("10", x_values),
        ("21", x_values),
        ("17", dates),
        ("11", dates),
        ("30", st.text(alphabet="0123456789", min_size=1, max_size=8)),
    ):
        if draw(st.booleans()):
            pairs.append((ai, draw(strategy)))
    order = draw(st.permutations(pairs))
    return GS1Message(tuple(ElementString(ai, value) for ai, value in order))


@given(unit_messages())
def test_bracketed_round_trip(message: GS1Message) -> None:
    message.validate()
    assert GS1Message.parse(message.as_bracketed()) == message


@given(unit_messages(), st.sampled_from(["\x1d", "^"]))
def test_raw_round_trip(message: GS1Message, separator: str) -> None:
    raw = message.as_raw(separator=separator)
    assert GS1Message.parse(raw, separators_trusted=True) == message
    # Untrusted, the parse either agrees or refuses because of a possible missing GS.
    try:
        parsed: GS1Message | str = GS1Message.parse(raw)
    except GS1Error as exc:
        parsed = str(exc)
    assert parsed == message or "FNC1 separator missing?" in str(parsed)


@given(unit_messages())
def test_scan_with_separators_round_trips_without_warning(message: GS1Message) -> None:
    raw = message.as_raw()
    result = parse_scan("]d2" + raw)
    assert result.message == message
    if "\x1d" in raw:
        assert result.warnings == ()


@given(unit_messages())
def test_scan_that_lost_its_separators_is_never_silently_believed(message: GS1Message) -> None:
    data = "]d2" + message.as_raw().replace("\x1d", "")
    try:
        result = parse_scan(data)
    except GS1Error:
        return  # e.g. a lot that swallowed a serial is longer than 20 characters
    assert result.message == message or result.warnings != ()


@given(
    st.sampled_from(syntax_dictionary().ais()),
    st.text(alphabet="0123456789", max_size=40) | st.text(alphabet=CSET82 + "=# ", max_size=40),
)
def test_fast_value_check_agrees_with_the_reference(ai: str, value: str) -> None:
    definition = syntax_dictionary()[ai]
    reference = definition._check_components(value)
    assert definition.is_valid(value) is (reference is None)
    assert definition.check_value(value) == reference


@given(unit_messages(), st.sampled_from(["https://id.gs1.org", "https://t.example.vn/a/b"]))
def test_digital_link_round_trip(message: GS1Message, stem: str) -> None:
    uri = to_digital_link(message, stem=stem)
    parsed = parse_digital_link(uri)
    assert sorted(parsed.elements, key=lambda e: e.ai) == sorted(
        message.elements, key=lambda e: e.ai
    )
    assert to_digital_link(parsed, stem=stem) == uri


@given(st.binary(max_size=300))
def test_random_bytes_scan(data: bytes) -> None:
    with contextlib.suppress(InvalidInput):
        parse_scan(data)


@given(
    st.text(max_size=200),
    st.sampled_from(["", "]d2", "]Q1", "]C1", "]E0", "(", "^", "https://a/01/"]),
)
def test_random_text_everywhere(text: str, prefix: str) -> None:
    data = prefix + text
    for call in (parse_scan, GS1Message.parse, parse_digital_link):
        with contextlib.suppress(InvalidInput):
            call(data)


@settings(max_examples=30)
@given(st.sampled_from(sorted(LINTER_NAMES)), st.text(max_size=40))
def test_linters_never_raise(name: str, text: str) -> None:
    failure = lint(name, text)
    assert failure is None or 0 <= failure.start <= failure.end <= len(text)


@pytest.mark.parametrize("prefix", ["]d2", "]Q1", "", "^10", "(10)", "https://a/01/"])
def test_one_megabyte_inputs_are_refused_quickly(prefix: str) -> None:
    big = prefix + "1" * 1_000_000
    for call in (parse_scan, GS1Message.parse, parse_digital_link):
        with contextlib.suppress(InvalidInput):
            call(big)


def test_one_megabyte_of_gs1_text_with_separators() -> None:
    big = "]d2" + "10A\x1d" * 250_000
    with pytest.raises(InvalidInput):
        parse_scan(big)
