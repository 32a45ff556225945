"""ReadStamper: every kind of bad input becomes a read with a precise error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.scanners.read import ReadStamper
from lineside.codecs.framing import AimMode, Frame, LineFramer

WALL = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def stamper(**kwargs: object) -> ReadStamper:
    return ReadStamper("verify-1", clock=lambda: 5.0, wall=lambda: WALL, **kwargs)  # type: ignore[arg-type]


def test_good_gs1_read() -> None:
    read = stamper().frame(Frame(b"]d2010893456789012010L1\x1d21S1"))
    assert read.ok
    assert read.result is not None
    assert (read.device_id, read.monotonic, read.wall_time, read.symbology) == (
        "verify-1",
        5.0,
        WALL,
        "]d2",
    )
    assert read.raw == b"]d2010893456789012010L1\x1d21S1"
    assert read.result.message is not None
    assert read.result.message.get("21") == "S1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"]d2\xff\xfe", "invalid UTF-8 at byte 3 (0xff)"),
        (b"]d20108934567890127", "check digit"),
        (b"]d20108934567890120230012", "no known AI at position 17"),
    ],
)
def test_bad_reads_carry_precise_errors(raw: bytes, expected: str) -> None:
    read = stamper().frame(Frame(raw))
    assert read.result is None
    assert read.error is not None
    assert expected in read.error


def test_missing_gs_lets_the_lot_swallow_the_serial_and_is_flagged() -> None:
    read = stamper().frame(Frame(b"]d2010893456789012010LOT121SERIAL"))
    # Either the parser rejects it, or the lot visibly swallowed the serial: never a serial.
    if read.result is not None:
        assert read.result.message is not None
        assert read.result.message.get("21") is None
    else:
        assert read.error


def test_overlong_frame_becomes_an_error_read() -> None:
    frame = LineFramer(max_length=8).feed(b"x" * 20)[0]
    read = stamper().frame(frame)
    assert read.error is not None
    assert read.error.startswith("overlong read")


def test_required_aim_prefix() -> None:
    read = stamper(aim=AimMode.REQUIRED).frame(Frame(b"0108934567890120"))
    assert read.error == "symbology identifier missing: the reader must send an AIM prefix"


def test_default_symbology_for_readers_without_prefix() -> None:
    read = stamper(default_symbology="]d2").frame(Frame(b"010893456789012010L1\x1d21S1"))
    assert read.ok
    assert read.symbology is None
    assert read.result is not None
    assert read.result.is_gs1


def test_parser_bug_is_contained(monkeypatch: pytest.MonkeyPatch) -> None:
    import edge.scanners.read as module

    def broken(data: bytes) -> object:
        raise IndexError("boom")

    monkeypatch.setattr(module, "parse_scan", broken)
    read = stamper().frame(Frame(b"]Q1x"))
    assert read.error == "internal parser error: IndexError: boom"


@given(st.binary(max_size=200))
def test_random_bytes_never_raise(data: bytes) -> None:
    for frame in LineFramer(max_length=64).feed(data + b"\r\n"):
        read = stamper().frame(frame)
        assert (read.result is None) != (read.error is None)
