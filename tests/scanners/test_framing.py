"""LineFramer: splitting, bounded memory, resynchronisation; fed any way at all."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lineside.codecs.framing import AimMode, Frame, LineFramer, split_aim_prefix

LINES = [b"]d2010893456789012010AB\x1d21X", b"]Q1https://id.example.com/01/08934567890120", b"x"]


def feed_chunks(framer: LineFramer, stream: bytes, cuts: list[int]) -> list[Frame]:
    frames: list[Frame] = []
    start = 0
    for cut in [*sorted(cuts), len(stream)]:
        frames += framer.feed(stream[start:cut])
        start = max(start, cut)
    return frames


def test_one_byte_at_a_time_gives_the_same_frames() -> None:
    stream = b"".join(line + b"\r\n" for line in LINES)
    framer = LineFramer()
    frames = [f for i in range(len(stream)) for f in framer.feed(stream[i : i + 1])]
    assert [f.data for f in frames] == LINES
    assert framer.buffered == 0


def test_gs_is_kept() -> None:
    assert LineFramer().feed(b"a\x1db\r\n") == [Frame(b"a\x1db")]


@pytest.mark.parametrize("terminator", [b"\r", b"\n", b"\r\n", b"\x03"])
def test_configurable_terminator(terminator: bytes) -> None:
    framer = LineFramer(terminator=terminator)
    assert [f.data for f in framer.feed(terminator.join(LINES) + terminator)] == LINES


def test_empty_lines_are_dropped() -> None:
    assert LineFramer(terminator=b"\r").feed(b"a\r\n\rb\r") == [Frame(b"a"), Frame(b"b")]


def test_megabyte_without_terminator_is_one_error_and_memory_stays_bounded() -> None:
    framer = LineFramer(max_length=4096)
    errors: list[Frame] = []
    chunk = b"A" * 65536
    for _ in range(16):  # 1 MiB
        errors += framer.feed(chunk)
        assert framer.buffered <= 4096 + 1
    assert len(errors) == 1
    assert errors[0].error is not None
    assert errors[0].error.startswith("overlong read: more than 4096 bytes")
    # The tail of the overlong line is discarded; the next read comes through.
    assert framer.feed(b"AAA\r\n]Q1next\r\n") == [Frame(b"]Q1next")]


def test_overlong_complete_line_in_one_chunk() -> None:
    frames = LineFramer(max_length=4).feed(b"123456\r\nok\r\n")
    assert frames[0].error is not None
    assert frames[1] == Frame(b"ok")


def test_line_of_exactly_max_length_passes_with_split_terminator() -> None:
    framer = LineFramer(max_length=4)
    assert framer.feed(b"1234\r") == []
    assert framer.feed(b"\n") == [Frame(b"1234")]


@given(
    lines=st.lists(
        st.binary(min_size=1, max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b),
        max_size=20,
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30),
)
def test_split_anywhere_roundtrip(lines: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(line + b"\r\n" for line in lines)
    frames = feed_chunks(LineFramer(), stream, cuts)
    assert [f.data for f in frames] == lines
    assert all(f.error is None for f in frames)


@given(data=st.binary(max_size=3000), cuts=st.lists(st.integers(0, 3000), max_size=10))
def test_random_bytes_never_crash_and_stay_bounded(data: bytes, cuts: list[int]) -> None:
    framer = LineFramer(max_length=64)
    frames = feed_chunks(framer, data, cuts)
    assert framer.buffered <= 65
    for frame in frames:
        assert frame.error is not None or len(frame.data) <= 64


def test_noise_between_reads_stays_on_its_own_line() -> None:
    rng = random.Random(7)
    noise = bytes(rng.randrange(256) for _ in range(200)).replace(b"\r\n", b"")
    stream = b"]Q1a\r\n" + noise + b"\r\n]Q1b\r\n"
    frames = feed_chunks(LineFramer(max_length=4096), stream, [3, 50, 207])
    assert frames[0].data == b"]Q1a"
    assert frames[-1].data == b"]Q1b"


def test_split_aim_prefix_modes() -> None:
    assert split_aim_prefix(b"]C1001") == ("]C1", b"001")
    assert split_aim_prefix(b"]1x") == (None, b"]1x")
    assert split_aim_prefix(b"]d2x", AimMode.NONE) == (None, b"]d2x")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="terminator"):
        LineFramer(terminator=b"")
    with pytest.raises(ValueError, match="max_length"):
        LineFramer(max_length=0)
