"""Fuzz the device URL parsers that pick a printer's link and a scanner.

Only :class:`~lineside.errors.ConfigError` may escape (a URL comes from the config file);
a URL that parses describes itself and parses again to the same description.
"""

from __future__ import annotations

import functools

from hypothesis import given
from hypothesis import strategies as st

from edge.drivers.url import parse_transport_url
from edge.scanners.urls import parse_scanner_url
from lineside.errors import ConfigError
from tests.fuzz.support import (
    InputCounter,
    fuzz_settings,
    hostile_text,
    mutated_text,
    returns_or_refuses,
)

URL_SEEDS = [
    "tcp://10.0.0.5:9100",
    "tcp://[::1]:9100",
    "tcp://printer-1:9100",
    "serial:///dev/ttyUSB0?baud=9600&bytesize=8&parity=N&stopbits=1&rtscts=0",
    "usb://0a5f:0100",
    "usb:///dev/usb/lp0",
    "cups://Zebra_ZT230",
    "file:///var/spool/lineside/labels.zpl",
]
SCANNER_URL_SEEDS = [
    "serial:///dev/ttyACM0?baud=115200&terminator=cr&aim=required",
    "tcp://10.0.0.7:2001?symbology=]d2",
    "tcp-listen://0.0.0.0:2001",
    "hid:///dev/input/event3?layout=fr&gs=~",
    "camera://0?mode=trigger&decoder=pyzbar&symbologies=qr,gs1-128",
    "camera:///srv/videos/line1.mp4",
    "camera+rtsp://10.0.0.9/stream1",
]
URL_ALPHABET = ":/?&=#[]%@.-_0123456789abfxyz"


def _parse(url: str, inputs: InputCounter) -> None:
    inputs.tried("drivers.parse_transport_url")
    spec = returns_or_refuses(functools.partial(parse_transport_url, url), ConfigError)
    if spec is None:
        return
    assert spec.url == url
    assert parse_transport_url(spec.url) == spec


@fuzz_settings()
@given(
    url=st.one_of(hostile_text(extra=URL_ALPHABET), mutated_text(URL_SEEDS, alphabet=URL_ALPHABET))
)
def test_transport_url(url: str, inputs: InputCounter) -> None:
    _parse(url, inputs)


@fuzz_settings()
@given(
    url=st.one_of(
        hostile_text(extra=URL_ALPHABET), mutated_text(SCANNER_URL_SEEDS, alphabet=URL_ALPHABET)
    )
)
def test_scanner_url(url: str, inputs: InputCounter) -> None:
    inputs.tried("scanners.parse_scanner_url")
    spec = returns_or_refuses(functools.partial(parse_scanner_url, url), ConfigError)
    if spec is None:
        return
    assert spec.url == url
    assert parse_scanner_url(spec.url) == spec
