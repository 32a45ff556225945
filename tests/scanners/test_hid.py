"""Keyboard-wedge decoding: layouts, GS substitution, and the HID driver on a fake stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.scanners.hid import (
    FR,
    US,
    GsMode,
    HidScanner,
    KeycodeDecoder,
    KeyEventSource,
    encode_keys,
    evdev_source,
)
from edge.scanners.read import ScanEvent, ScannerState
from lineside.codecs.framing import Frame
from lineside.errors import DeviceError, TransportError
from tests.scanners.conftest import collect, reads_of, statuses_of

CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"


def decode(events: list[tuple[int, int]], decoder: KeycodeDecoder) -> list[Frame]:
    return [f for code, value in events for f in decoder.feed(code, value)]


@pytest.mark.parametrize("layout", [US, FR], ids=["us", "fr"])
@given(text=st.text(alphabet=CSET82 + "\x1d", min_size=1, max_size=40))
def test_same_layout_roundtrip(layout: object, text: str) -> None:
    assert layout is US or layout is FR
    frames = decode(encode_keys(text, layout), KeycodeDecoder(layout))
    assert frames == [Frame(text.encode())]


@pytest.mark.parametrize("mode", list(GsMode))
def test_gs_in_every_reader_mode(mode: GsMode) -> None:
    events = encode_keys("10AB\x1d21X", US, gs_mode=mode, gs_substitute="~")
    frames = decode(events, KeycodeDecoder(US, gs_substitute="~"))
    assert frames == [Frame(b"10AB\x1d21X")]


def test_substitute_without_configuration_stays_visible() -> None:
    events = encode_keys("10AB\x1d21X", US, gs_mode=GsMode.SUBSTITUTE, gs_substitute="~")
    assert decode(events, KeycodeDecoder(US)) == [Frame(b"10AB~21X")]


def test_us_reader_on_azerty_host_is_mangled() -> None:
    frames = decode(encode_keys("AZ09M", US), KeycodeDecoder(FR))
    assert frames[0].data.decode() == "QWàç?"


def test_caps_lock_inverts_letters_only() -> None:
    events = [(58, 1), (58, 0), *encode_keys("ab1", US)]
    assert decode(events, KeycodeDecoder(US)) == [Frame(b"AB1")]


def test_unknown_key_becomes_replacement_character() -> None:
    events = [(30, 1), (30, 0), (183, 1), (183, 0), (28, 1), (28, 0)]  # 183 = F13
    assert decode(events, KeycodeDecoder(US)) == [Frame("a\ufffd".encode())]


def test_overlong_wedge_read_is_an_error_frame() -> None:
    decoder = KeycodeDecoder(US, max_length=10)
    frames = decode(encode_keys("1" * 50, US), decoder)
    assert frames[0].error == "overlong read: more than 10 characters before Enter"
    assert decode(encode_keys("12", US), decoder) == [Frame(b"12")]


@given(events=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 2)), max_size=200))
def test_random_key_events_never_crash(events: list[tuple[int, int]]) -> None:
    decoder = KeycodeDecoder(FR, gs_substitute="~", max_length=32)
    for frame in decode(events, decoder):
        assert frame.error is not None or len(frame.data.decode()) <= 32


def test_layout_cannot_type_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="cannot type"):
        encode_keys("ẞ", US)


def fake_source(batches: list[list[tuple[int, int]] | Exception]) -> KeyEventSource:
    """A key-event source: each call plays the next batch; an exception ends it."""
    calls = iter(batches)

    def open_source() -> AsyncIterator[tuple[int, int]]:
        async def events() -> AsyncGenerator[tuple[int, int], None]:
            batch = next(calls, None)
            if batch is None:
                await asyncio.Event().wait()  # nothing more: a silent, connected device
                return
            if isinstance(batch, Exception):
                raise batch
            for event in batch:
                await asyncio.sleep(0)
                yield event
            raise TransportError("/dev/input/event9: No such device")

        return events()

    return open_source


async def test_hid_scanner_yields_parsed_reads_and_reconnects() -> None:
    from lineside.backoff import Backoff

    good = "]d2010893456789012010AB\x1d21X1"
    source = fake_source(
        [
            encode_keys(good, US),
            TransportError("cannot open /dev/input/event9"),
            encode_keys("]d20108934567890127", US),
        ]
    )
    scanner = HidScanner(
        "wedge-1",
        "hid:///dev/input/event9",
        source,
        backoff=Backoff(initial=0.0, maximum=0.0, jitter=0.0, attempts=None),
    )

    async def scenario() -> list[ScanEvent]:
        return await collect(scanner.events(), lambda seen: len(reads_of(seen)) == 2)

    events = await scenario()
    reads = reads_of(events)
    assert reads[0].ok
    assert reads[0].result is not None
    assert reads[0].result.message is not None
    assert reads[0].result.message.get("21") == "X1"
    assert reads[1].error is not None
    assert "check digit" in reads[1].error
    states = [s.state for s in statuses_of(events)]
    assert states.count(ScannerState.DISCONNECTED) == 2
    assert states[:2] == [ScannerState.CONNECTING, ScannerState.CONNECTED]


async def test_evdev_source_missing_device_is_a_transport_error() -> None:
    events = evdev_source("/dev/input/event-none")()
    with pytest.raises(TransportError, match="cannot open /dev/input/event-none"):
        await anext(events)


async def test_evdev_source_without_permission_is_a_clear_device_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import evdev

    def refuse(path: str) -> None:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(evdev, "InputDevice", refuse)

    events = evdev_source("/dev/input/event3")()
    with pytest.raises(DeviceError, match="permission denied opening /dev/input/event3"):
        await anext(events)


async def test_evdev_missing_is_a_clear_device_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "evdev", None)

    events = evdev_source("/dev/input/event3")()
    with pytest.raises(DeviceError, match="need the 'evdev' package"):
        await anext(events)
