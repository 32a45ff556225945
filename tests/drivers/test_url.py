"""Transport URLs: every scheme parses to its typed spec; every bad part is named."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.drivers import (
    CupsTransport,
    FileTransport,
    ReconnectingTransport,
    SerialTransport,
    TcpTransport,
    UsbLpTransport,
    UsbTransport,
    open_transport,
    parse_transport_url,
)
from edge.drivers.url import CupsSpec, FileSpec, SerialSpec, TcpSpec, UsbLpSpec, UsbSpec
from lineside.backoff import Backoff
from lineside.errors import ConfigError


def test_tcp() -> None:
    assert parse_transport_url("tcp://10.0.0.5:9100") == TcpSpec(
        "tcp://10.0.0.5:9100", "10.0.0.5", 9100
    )
    assert parse_transport_url("tcp://[::1]:9100") == TcpSpec("tcp://[::1]:9100", "::1", 9100)


def test_serial_defaults_and_options() -> None:
    spec = parse_transport_url("serial:///dev/ttyUSB0")
    assert spec == SerialSpec("serial:///dev/ttyUSB0", "/dev/ttyUSB0")
    full = parse_transport_url(
        "serial:///dev/ttyUSB0?baud=115200&bytesize=7&parity=E&stopbits=2&rtscts=1"
    )
    assert isinstance(full, SerialSpec)
    assert (full.baudrate, full.bytesize, full.parity, full.stopbits, full.rtscts) == (
        115200,
        7,
        "E",
        2,
        True,
    )


def test_usb_forms() -> None:
    assert parse_transport_url("usb://0a5f:0100") == UsbSpec("usb://0a5f:0100", 0x0A5F, 0x0100)
    assert parse_transport_url("usb://0a5f:0100?serial=X1").serial_number == "X1"  # type: ignore[union-attr]
    assert parse_transport_url("usb:///dev/usb/lp0") == UsbLpSpec(
        "usb:///dev/usb/lp0", "/dev/usb/lp0"
    )


def test_cups_and_file() -> None:
    assert parse_transport_url("cups://Zebra_ZT230") == CupsSpec(
        "cups://Zebra_ZT230", "Zebra_ZT230"
    )
    assert parse_transport_url("file:///tmp/a%20b.zpl") == FileSpec(
        "file:///tmp/a%20b.zpl", "/tmp/a b.zpl"
    )


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "empty"),
        ("10.0.0.5:9100", "no scheme"),
        ("lpt://1", "scheme 'lpt' is not supported"),
        ("tcp://10.0.0.5", "the port is missing"),
        ("tcp://10.0.0.5:99999", "port '99999'"),
        ("tcp://10.0.0.5:abc", "port 'abc'"),
        ("tcp://h:9100/x", "path '/x'"),
        ("serial://dev/ttyUSB0", "host part 'dev'"),
        ("serial:///dev/ttyUSB0?baud=9601", "baud=9601 is not supported"),
        ("serial:///dev/ttyUSB0?baud=fast", "baud='fast' is not a whole number"),
        ("serial:///dev/ttyUSB0?parity=X", "parity='X'"),
        ("serial:///dev/ttyUSB0?stopbits=3", "stopbits='3'"),
        ("serial:///dev/ttyUSB0?rtscts=maybe", "rtscts='maybe'"),
        ("serial:///dev/ttyUSB0?speed=9600", "unknown option 'speed'"),
        ("serial:///dev/ttyUSB0?baud=9600&baud=19200", "option 'baud' given 2 times"),
        ("usb://0a5f", "no ':' between vendor and product"),
        ("usb://zz:0100", "vendor id 'zz'"),
        ("usb://0a5f:12345", "product id '12345'"),
        ("usb:///tmp/lp0", "not a device node"),
        ("cups://", "queue name is missing"),
        ("file://host/x", "path must be absolute"),
    ],
)
def test_bad_urls_name_url_and_part(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_transport_url(url)
    assert fragment in str(info.value)
    if url:
        assert repr(url) in str(info.value)


def test_open_transport_picks_implementation() -> None:
    cases = {
        "tcp://127.0.0.1:9100": TcpTransport,
        "serial:///dev/ttyS0": SerialTransport,
        "usb://0a5f:0100": UsbTransport,
        "usb:///dev/usb/lp0": UsbLpTransport,
        "cups://q": CupsTransport,
        "file:///tmp/out.zpl": FileTransport,
    }
    for url, cls in cases.items():
        transport = open_transport(url)
        assert type(transport).__name__ == cls.__name__
        assert transport.url == url
        assert transport.is_open is False
    wrapped = open_transport("tcp://127.0.0.1:9100", backoff=Backoff())
    assert isinstance(wrapped, ReconnectingTransport)


@given(st.text(max_size=60))
def test_random_text_never_crashes(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_transport_url(text)


@given(
    host=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    port=st.integers(min_value=1, max_value=65535),
)
def test_tcp_roundtrip(host: str, port: int) -> None:
    spec = parse_transport_url(f"tcp://{host}:{port}")
    assert spec == TcpSpec(f"tcp://{host}:{port}", host, port)
