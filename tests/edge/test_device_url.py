"""One device-URL grammar: printers' transports and scanners split, read options and
name what is wrong the same way; each kind keeps its own schemes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.device_url import DeviceKind, DeviceUrlError, parse_device_url
from edge.drivers.url import SerialSpec, parse_transport_url
from edge.scanners.urls import (
    CameraScannerSpec,
    HidScannerSpec,
    ListeningScannerSpec,
    StreamScannerSpec,
    parse_scanner_url,
)
from lineside.codecs.framing import AimMode
from lineside.errors import ConfigError


def _problem_as_printer_and_scanner(url: str) -> tuple[str, str]:
    problems = []
    for parse in (parse_transport_url, parse_scanner_url):
        with pytest.raises(DeviceUrlError) as info:
            parse(url)
        assert info.value.url == url
        problems.append(info.value.problem)
    return problems[0], problems[1]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("tcp:/127.0.0.1:9200", "missing '//' after 'tcp:'"),
        ("tcp:127.0.0.1:9200", "missing '//' after 'tcp:'"),
        ("serial:/dev/ttyUSB0", "missing '//' after 'serial:'"),
        ("127.0.0.1:9200", "no scheme"),
        ("tcp://127.0.0.1:9200#x", "fragment 'x' is not allowed"),
        (" tcp://127.0.0.1:9200", "space before or after the URL"),
        ("tcp://127.0.0.1:92\t00", "control character '\\t' in the URL"),
        ("tcp://127.0.0.1", "the port is missing"),
        ("tcp://:9200", "the host is missing"),
        ("tcp://h:70000", "port '70000' is not a number from 1 to 65535"),
        ("serial:///dev/ttyS0?baud=12", "baud=12 is not supported"),
        ("serial:///dev/ttyS0?baud=9600&baud=9600", "option 'baud' given 2 times"),
        ("serial:///dev/ttyS0?baud", "query 'baud' is malformed"),
        ("serial:///dev/ttyS0?rtscts=maybe", "rtscts='maybe' is not a yes/no value"),
        ("serial://dev/ttyS0", "host part 'dev' is not allowed"),
    ],
)
def test_printers_and_scanners_name_the_same_problem_the_same_way(url: str, problem: str) -> None:
    as_printer, as_scanner = _problem_as_printer_and_scanner(url)
    assert as_printer.startswith(problem)
    assert as_scanner.startswith(problem)


def test_the_message_names_the_kind_the_url_and_what_was_expected() -> None:
    with pytest.raises(ConfigError) as printer:
        parse_transport_url("tcp:/127.0.0.1:9100")
    assert str(printer.value) == (
        "transport URL 'tcp:/127.0.0.1:9100': missing '//' after 'tcp:'; "
        "expected tcp://host:port, e.g. tcp://10.0.0.5:9100"
    )
    with pytest.raises(ConfigError) as scanner:
        parse_scanner_url("tcp:/127.0.0.1:9200")
    assert str(scanner.value) == (
        "scanner URL 'tcp:/127.0.0.1:9200': missing '//' after 'tcp:'; "
        "expected tcp://host:port, e.g. tcp://10.0.0.7:2001"
    )
    with pytest.raises(ConfigError, match="^transport URL is empty; expected e.g. tcp://"):
        parse_transport_url("")


def test_each_kind_decides_its_schemes() -> None:
    with pytest.raises(ConfigError, match="scheme 'hid' is not supported; expected one of tcp"):
        parse_transport_url("hid:///dev/input/event3")
    with pytest.raises(ConfigError, match="scheme 'usb' is not supported; expected one of serial"):
        parse_scanner_url("usb://0a5f:0100")
    relay = DeviceKind("relay", {"serial": "serial:///dev/ttyUSB0"})
    with pytest.raises(ConfigError, match="relay URL 'tcp://h:1': scheme 'tcp' is not supported"):
        parse_transport_url("tcp://h:1", relay)
    # A scheme the kind does not know, written without '//', is not taken for a scheme.
    with pytest.raises(ConfigError, match="no scheme; expected scheme://... with a scheme of"):
        parse_scanner_url("usb:0a5f:0100")


def test_a_serial_scanner_takes_the_line_options_and_the_scanners() -> None:
    url = "serial:///dev/ttyACM0?baud=115200&terminator=cr&aim=required&symbology=%5Dd2"
    spec = parse_scanner_url(url)
    assert isinstance(spec, StreamScannerSpec)
    assert spec.link_url == "serial:///dev/ttyACM0?baud=115200"
    assert spec.reading.terminator == b"\r"
    assert spec.reading.aim is AimMode.REQUIRED
    assert spec.reading.symbology == "]d2"
    link = parse_transport_url(spec.link_url)
    assert isinstance(link, SerialSpec)
    assert link.baudrate == 115200


def test_an_unknown_option_lists_every_option_the_url_understands() -> None:
    with pytest.raises(ConfigError) as info:
        parse_scanner_url("serial:///dev/ttyACM0?speed=9600")
    assert str(info.value).endswith(
        "unknown option 'speed'; expected one of aim, baud, bytesize, max_length, parity, "
        "rtscts, stopbits, symbology, terminator, xonxoff"
    )
    with pytest.raises(ConfigError, match=r"query 'x=1' is not allowed; expected tcp://host"):
        parse_transport_url("tcp://h:9100?x=1")


def test_scanner_specs() -> None:
    listening = parse_scanner_url("tcp-listen://127.0.0.1:0?terminator=lf")
    assert listening == ListeningScannerSpec(
        "tcp-listen://127.0.0.1:0?terminator=lf",
        "127.0.0.1",
        0,
        listening.reading,
    )
    assert listening.reading.terminator == b"\n"
    hid = parse_scanner_url("hid:///dev/input/event3?layout=fr&gs=~&grab=0")
    assert isinstance(hid, HidScannerSpec)
    assert (hid.path, hid.layout, hid.gs, hid.grab) == ("/dev/input/event3", "fr", "~", False)
    rtsp = parse_scanner_url("camera+rtsp://10.0.0.9/stream1?mode=trigger&channel=2")
    assert isinstance(rtsp, CameraScannerSpec)
    # Options the camera does not know belong to the stream.
    assert rtsp.source == "rtsp://10.0.0.9/stream1?channel=2"
    with pytest.raises(ConfigError, match="unknown option 'channel'"):
        parse_scanner_url("camera://0?channel=2")


def test_options_keep_their_encoding_when_passed_on() -> None:
    kind = DeviceKind("scanner", {"tcp": "tcp://h:1"})
    url = parse_device_url("tcp://h:1?a=%26&aim=none&b=x%3Dy", kind)
    assert url.without_options({"aim"}) == "tcp://h:1?a=%26&b=x%3Dy"
    assert url.without_options({"aim", "a", "b"}) == "tcp://h:1"


@given(st.text(max_size=60))
def test_random_text_is_a_scanner_url_or_a_config_error(text: str) -> None:
    try:
        spec = parse_scanner_url(text)
    except ConfigError:
        return
    assert spec.url == text
    assert parse_scanner_url(text) == spec
