"""Fuzz the scanner codecs: line framing, the HID key decoder and the self-test.

The framer is checked against a one-line reference model over arbitrary chunkings: no
byte is lost or invented between frames, no frame exceeds ``max_length`` and the buffer
stays bounded. The key decoder never raises and never exceeds its length; what a reader
types, it decodes. The self-test only ever reports, and passes only the exact code.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.scanners.hid import (
    FR,
    KEY_CAPSLOCK,
    KEY_ENTER,
    KEY_KPENTER,
    KEY_LEFTALT,
    KEY_LEFTCTRL,
    KEY_LEFTSHIFT,
    KEY_RIGHTALT,
    KEY_RIGHTBRACE,
    US,
    GsMode,
    KeyboardLayout,
    KeycodeDecoder,
    encode_keys,
)
from edge.scanners.selftest import (
    CALIBRATION_ELEMENT_STRING,
    CALIBRATION_SYMBOLOGY,
    check_calibration,
)
from lineside.codecs.framing import AimMode, Frame, LineFramer, split_aim_prefix
from tests.fuzz.support import (
    InputCounter,
    fuzz_settings,
    hostile_bytes,
    hostile_text,
    mutated_bytes,
    mutated_text,
    splits,
)

# --- LineFramer ------------------------------------------------------------------------------

terminators = st.one_of(
    st.sampled_from([b"\r\n", b"\r", b"\n", b"\x03", b"\r\r"]), st.binary(min_size=1, max_size=3)
)
#: Streams built from terminator-ish bytes, GS and a few letters, so lines actually form.
stream_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from([b"\r", b"\n", b"\x1d", b"]d2", b"01", b"A", b"\x03", b"\x00"])).map(
        b"".join
    ),
)


def reference_frames(stream: bytes, terminator: bytes, max_length: int) -> list[Frame]:
    """What a framer must return for ``stream`` fed in any number of pieces."""
    *complete, tail = stream.split(terminator)
    frames = []
    for line in complete:
        if len(line) > max_length:
            frames.append(Frame(line[: min(32, max_length)], "overlong"))
        elif line.strip(b"\r\n"):
            frames.append(Frame(line.strip(b"\r\n")))
    # An unterminated tail too long to ever be a line is reported before its end arrives.
    if len(tail) > max_length + len(terminator) - 1:
        frames.append(Frame(tail[: min(32, max_length)], "overlong"))
    return frames


def _normalise(frames: list[Frame]) -> list[Frame]:
    return [Frame(f.data, "overlong" if f.error else None) for f in frames]


@fuzz_settings()
@given(
    data=st.data(),
    stream=stream_bytes,
    terminator=terminators,
    max_length=st.integers(1, 64),
)
def test_framer_matches_reference_in_any_chunking(
    data: st.DataObject, stream: bytes, terminator: bytes, max_length: int, inputs: InputCounter
) -> None:
    inputs.tried("scanners.LineFramer.feed")
    framer = LineFramer(terminator=terminator, max_length=max_length)
    frames: list[Frame] = []
    for chunk in data.draw(splits(stream)):
        got = framer.feed(chunk)
        for frame in got:
            assert len(frame.data) <= max_length
            assert frame.error is not None or terminator not in frame.data
        frames.extend(got)
        assert framer.buffered <= max_length + len(terminator) - 1
    assert _normalise(frames) == reference_frames(stream, terminator, max_length)


@fuzz_settings(0.25)
@given(
    chunk=st.binary(min_size=1, max_size=16),
    repeat=st.integers(1_000, 100_000),
    terminator=st.sampled_from([b"\r\n", b"\r", b"\x03"]),
)
def test_framer_memory_is_bounded_on_endless_lines(
    chunk: bytes, repeat: int, terminator: bytes, inputs: InputCounter
) -> None:
    inputs.tried("scanners.LineFramer.feed")
    framer = LineFramer(terminator=terminator, max_length=4096)
    frames = framer.feed(chunk * repeat)
    assert framer.buffered <= 4096 + len(terminator) - 1
    assert all(len(f.data) <= 4096 for f in frames)


@fuzz_settings()
@given(data=hostile_bytes(), mode=st.sampled_from(AimMode))
def test_split_aim_prefix(data: bytes, mode: AimMode, inputs: InputCounter) -> None:
    inputs.tried("scanners.split_aim_prefix")
    symbology, rest = split_aim_prefix(data, mode)
    if symbology is None:
        assert rest == data
    else:
        assert mode is not AimMode.NONE
        assert symbology.encode("ascii") + rest == data
        assert len(symbology) == 3
        assert symbology[0] == "]"


# --- KeycodeDecoder --------------------------------------------------------------------------

_INTERESTING_KEYS = [
    KEY_LEFTSHIFT,
    KEY_LEFTCTRL,
    KEY_LEFTALT,
    KEY_RIGHTALT,
    KEY_CAPSLOCK,
    KEY_ENTER,
    KEY_KPENTER,
    KEY_RIGHTBRACE,
    *range(71, 84),  # the keypad digits
]
_KEYPAD_DIGIT_CODES = [82, 79, 80, 81, 75, 76, 77, 71, 72, 73]
key_events = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(_INTERESTING_KEYS), st.integers(0, 767)),
        st.sampled_from([0, 1, 1, 2]),
    ),
    max_size=300,
)


def _feed(decoder: KeycodeDecoder, events: list[tuple[int, int]]) -> list[Frame]:
    frames = []
    for code, value in events:
        frames.extend(decoder.feed(code, value))
    return frames


@fuzz_settings()
@given(
    events=key_events,
    layout=st.sampled_from([US, FR]),
    substitute=st.sampled_from([None, "~", "|"]),
    max_length=st.integers(1, 64),
)
def test_key_decoder_random_events(
    events: list[tuple[int, int]],
    layout: KeyboardLayout,
    substitute: str | None,
    max_length: int,
    inputs: InputCounter,
) -> None:
    inputs.tried("scanners.KeycodeDecoder.feed")
    decoder = KeycodeDecoder(layout, gs_substitute=substitute, max_length=max_length)
    for frame in _feed(decoder, events):
        text = frame.data.decode("utf-8")  # always valid UTF-8
        if frame.error is None:
            assert 0 < len(text) <= max_length
        else:
            assert len(frame.data) <= 32


@fuzz_settings(0.25)
@given(
    digits=st.one_of(
        st.lists(st.sampled_from(_KEYPAD_DIGIT_CODES), max_size=12),
        st.builds(
            lambda code, n: [code] * n, st.sampled_from(_KEYPAD_DIGIT_CODES), st.integers(0, 6000)
        ),
    )
)
def test_key_decoder_alt_numpad_any_number(digits: list[int], inputs: InputCounter) -> None:
    inputs.tried("scanners.KeycodeDecoder.feed")
    events = [(KEY_LEFTALT, 1), *((code, 1) for code in digits), (KEY_LEFTALT, 0), (KEY_ENTER, 1)]
    for frame in _feed(KeycodeDecoder(US), events):
        assert len(frame.data.decode("utf-8")) == 1


def _typeable(layout: KeyboardLayout) -> str:
    chars = {c for pair in layout.keys.values() for c in pair} | set(layout.altgr.values())
    return "".join(sorted(chars - {"~"}))


@fuzz_settings()
@given(data=st.data(), layout=st.sampled_from([US, FR]), gs_mode=st.sampled_from(GsMode))
def test_key_decoder_decodes_what_a_reader_types(
    data: st.DataObject, layout: KeyboardLayout, gs_mode: GsMode, inputs: InputCounter
) -> None:
    inputs.tried("scanners.KeycodeDecoder.feed")
    alphabet = _typeable(layout) + "\x1d"
    text = data.draw(st.text(alphabet=alphabet, min_size=1, max_size=60).filter(str.strip))
    events = encode_keys(text, layout, gs_mode=gs_mode, gs_substitute="~")
    decoder = KeycodeDecoder(layout, gs_substitute="~" if gs_mode is GsMode.SUBSTITUTE else None)
    assert _feed(decoder, events) == [Frame(text.encode("utf-8"))]


# --- self-test ------------------------------------------------------------------------------

FULL_CALIBRATION = CALIBRATION_SYMBOLOGY + CALIBRATION_ELEMENT_STRING
CALIBRATION_SEEDS = [
    FULL_CALIBRATION,
    CALIBRATION_ELEMENT_STRING,
    FULL_CALIBRATION.replace("\x1d", ""),
    FULL_CALIBRATION.replace("\x1d", "~"),
    "]d2010893456789012010QWqz-?.1/y21SELF_TEST",
]


def _self_test(raw: bytes | str, inputs: InputCounter) -> None:
    inputs.tried("scanners.check_calibration")
    for wedge in (True, False):
        report = check_calibration(raw, wedge=wedge)
        text = raw if isinstance(raw, str) else None
        exact = raw == FULL_CALIBRATION.encode() or text == FULL_CALIBRATION
        assert report.passed == exact, (raw, report.problems)
        assert report.expected == FULL_CALIBRATION
        assert all(f.message for f in report.findings)
        assert exact or report.problems


@fuzz_settings()
@given(raw=st.one_of(hostile_bytes(max_size=80), hostile_text(max_size=80)))
def test_self_test_random_reads(raw: bytes | str, inputs: InputCounter) -> None:
    _self_test(raw, inputs)


@fuzz_settings()
@given(
    raw=st.one_of(
        mutated_text(CALIBRATION_SEEDS, alphabet="AZQWqzwy-M./0123456789\x1d]d2"),
        mutated_bytes([seed.encode() for seed in CALIBRATION_SEEDS]),
    )
)
def test_self_test_mutated_reads(raw: bytes | str, inputs: InputCounter) -> None:
    _self_test(raw, inputs)


@fuzz_settings(0.1)
@given(chunk=st.binary(min_size=1, max_size=8), size=st.integers(4_096, 16_384))
def test_self_test_longest_framed_read(chunk: bytes, size: int, inputs: InputCounter) -> None:
    # A framer hands over at most its max_length (4096 by default) bytes per read.
    _self_test((chunk * (size // len(chunk) + 1))[:size], inputs)
