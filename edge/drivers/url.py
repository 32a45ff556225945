"""Parse a transport URL into a typed, validated description of the device link.

Transports are chosen by URL so that a simulator and a real device differ only in a
string from the config file::

    tcp://10.0.0.5:9100
    serial:///dev/ttyUSB0?baud=9600&bytesize=8&parity=N&stopbits=1&rtscts=0
    usb://0a5f:0100            (pyusb, vendor:product in hex)
    usb:///dev/usb/lp0         (the kernel's usblp device node)
    cups://Zebra_ZT230         (a raw CUPS queue, through ``lpr``)
    file:///var/spool/lineside/labels.zpl

Errors are :class:`lineside.errors.ConfigError` naming the URL and the bad part.

>>> parse_transport_url("tcp://printer-1:9100")
TcpSpec(url='tcp://printer-1:9100', host='printer-1', port=9100)
>>> parse_transport_url("serial:///dev/ttyUSB0?baud=115200").baudrate
115200
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from lineside.errors import ConfigError

Parity = Literal["N", "E", "O", "M", "S"]

_BAUD_RATES = frozenset(
    {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}
)


@dataclass(frozen=True, slots=True)
class TcpSpec:
    """A raw TCP socket, e.g. a Zebra's port 9100."""

    url: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class SerialSpec:
    """An RS-232 / USB-CDC serial port (or a pseudo-terminal)."""

    url: str
    path: str
    baudrate: int = 9600
    bytesize: int = 8
    parity: Parity = "N"
    stopbits: float = 1
    rtscts: bool = False
    xonxoff: bool = False


@dataclass(frozen=True, slots=True)
class UsbSpec:
    """A USB device addressed by vendor and product id (driven through pyusb)."""

    url: str
    vendor_id: int
    product_id: int
    serial_number: str | None = None


@dataclass(frozen=True, slots=True)
class UsbLpSpec:
    """A USB printer through the kernel's ``usblp`` node, e.g. ``/dev/usb/lp0``."""

    url: str
    path: str


@dataclass(frozen=True, slots=True)
class CupsSpec:
    """A raw CUPS print queue (write-only: CUPS gives no status back-channel)."""

    url: str
    queue: str


@dataclass(frozen=True, slots=True)
class FileSpec:
    """A plain file: writes append to it, reads follow it from the start."""

    url: str
    path: str


TransportSpec = TcpSpec | SerialSpec | UsbSpec | UsbLpSpec | CupsSpec | FileSpec

SCHEMES = ("tcp", "serial", "usb", "cups", "file")


def _bad(url: str, part: str, expected: str) -> ConfigError:
    return ConfigError(f"transport URL {url!r}: {part}; expected {expected}")


def _single_query(url: str, raw: str, allowed: frozenset[str]) -> dict[str, str]:
    try:
        query = parse_qs(raw, keep_blank_values=True, strict_parsing=bool(raw))
    except ValueError as exc:
        raise _bad(url, f"query {raw!r} is malformed", "key=value pairs joined by '&'") from exc
    result: dict[str, str] = {}
    for key, values in query.items():
        if key not in allowed:
            raise _bad(url, f"unknown option {key!r}", "one of " + ", ".join(sorted(allowed)))
        if len(values) != 1:
            raise _bad(url, f"option {key!r} given {len(values)} times", "it once")
        result[key] = values[0]
    return result


def _int_option(url: str, key: str, value: str, choices: frozenset[int] | None = None) -> int:
    if not value.isdigit():
        raise _bad(url, f"{key}={value!r} is not a whole number", f"{key}=<digits>")
    number = int(value)
    if choices is not None and number not in choices:
        allowed = ", ".join(str(c) for c in sorted(choices))
        raise _bad(url, f"{key}={number} is not supported", f"one of {allowed}")
    return number


def _bool_option(url: str, key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise _bad(url, f"{key}={value!r} is not a yes/no value", f"{key}=0 or {key}=1")


def _parse_tcp(url: str, netloc: str, path: str, query: str) -> TcpSpec:
    if path not in ("", "/"):
        raise _bad(url, f"path {path!r} is not allowed", "tcp://host:port")
    if query:
        raise _bad(url, f"query {query!r} is not allowed", "tcp://host:port")
    host, sep, port_text = netloc.rpartition(":")
    if not sep or not host:
        raise _bad(url, "the port is missing", "tcp://host:port, e.g. tcp://10.0.0.5:9100")
    host = host.strip("[]")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise _bad(url, f"port {port_text!r} is not a number from 1 to 65535", "tcp://host:9100")
    return TcpSpec(url=url, host=host, port=int(port_text))


def _parse_serial(url: str, netloc: str, path: str, query: str) -> SerialSpec:
    if netloc:
        raise _bad(
            url, f"host part {netloc!r} is not allowed", "serial:///dev/ttyUSB0 (three slashes)"
        )
    if not path or path == "/":
        raise _bad(url, "the device path is missing", "serial:///dev/ttyUSB0")
    opts = _single_query(
        url,
        query,
        frozenset({"baud", "bytesize", "parity", "stopbits", "rtscts", "xonxoff"}),
    )
    baud = _int_option(url, "baud", opts.get("baud", "9600"), _BAUD_RATES)
    bytesize = _int_option(url, "bytesize", opts.get("bytesize", "8"), frozenset({5, 6, 7, 8}))
    parity_text = opts.get("parity", "N").upper()
    parity: Parity
    if parity_text == "N":
        parity = "N"
    elif parity_text == "E":
        parity = "E"
    elif parity_text == "O":
        parity = "O"
    elif parity_text == "M":
        parity = "M"
    elif parity_text == "S":
        parity = "S"
    else:
        raise _bad(url, f"parity={parity_text!r} is not known", "parity=N, E, O, M or S")
    stop_text = opts.get("stopbits", "1")
    if stop_text not in {"1", "1.5", "2"}:
        raise _bad(url, f"stopbits={stop_text!r} is not supported", "stopbits=1, 1.5 or 2")
    return SerialSpec(
        url=url,
        path=unquote(path),
        baudrate=baud,
        bytesize=bytesize,
        parity=parity,
        stopbits=float(stop_text) if stop_text == "1.5" else int(stop_text),
        rtscts=_bool_option(url, "rtscts", opts.get("rtscts", "0")),
        xonxoff=_bool_option(url, "xonxoff", opts.get("xonxoff", "0")),
    )


def _hex_id(url: str, label: str, text: str) -> int:
    if not 1 <= len(text) <= 4 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise _bad(url, f"{label} {text!r} is not 1-4 hex digits", "usb://VID:PID, e.g. 0a5f:0100")
    return int(text, 16)


def _parse_usb(url: str, netloc: str, path: str, query: str) -> UsbSpec | UsbLpSpec:
    if not netloc:
        if not path.startswith("/dev/"):
            raise _bad(url, f"path {path!r} is not a device node", "usb:///dev/usb/lp0")
        if query:
            raise _bad(url, f"query {query!r} is not allowed", "usb:///dev/usb/lp0")
        return UsbLpSpec(url=url, path=unquote(path))
    if path not in ("", "/"):
        raise _bad(url, f"path {path!r} is not allowed after VID:PID", "usb://VID:PID")
    vid, sep, pid = netloc.partition(":")
    if not sep:
        raise _bad(url, f"{netloc!r} has no ':' between vendor and product id", "usb://0a5f:0100")
    opts = _single_query(url, query, frozenset({"serial"}))
    return UsbSpec(
        url=url,
        vendor_id=_hex_id(url, "vendor id", vid),
        product_id=_hex_id(url, "product id", pid),
        serial_number=opts.get("serial") or None,
    )


def _parse_cups(url: str, netloc: str, path: str, query: str) -> CupsSpec:
    queue = unquote(netloc)
    if not queue or path not in ("", "/") or query:
        raise _bad(url, "the queue name is missing or has extra parts", "cups://QUEUE_NAME")
    if any(c.isspace() or c in "/#" for c in queue):
        raise _bad(url, f"queue name {queue!r} has a space, '/' or '#'", "a CUPS queue name")
    return CupsSpec(url=url, queue=queue)


def _parse_file(url: str, netloc: str, path: str, query: str) -> FileSpec:
    if netloc or not path or path == "/" or query:
        raise _bad(url, "the path must be absolute with no host or query", "file:///path/to/file")
    return FileSpec(url=url, path=unquote(path))


def parse_transport_url(url: str) -> TransportSpec:
    """Validate ``url`` and return the typed description of the link it names.

    >>> parse_transport_url("usb://0a5f:0100")
    UsbSpec(url='usb://0a5f:0100', vendor_id=2655, product_id=256, serial_number=None)
    >>> parse_transport_url("lpt://1")
    Traceback (most recent call last):
    ...
    lineside.errors.ConfigError: transport URL 'lpt://1': scheme 'lpt' is not supported; \
expected one of tcp, serial, usb, cups, file
    """
    if not isinstance(url, str) or not url:
        raise ConfigError("transport URL is empty; expected e.g. tcp://host:9100")
    if "://" not in url:
        raise _bad(url, "no scheme", "scheme://..., e.g. tcp://host:9100 or serial:///dev/ttyS0")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "tcp://[::1" (unclosed IPv6 bracket), "tcp://[]"
        raise _bad(url, str(exc), "a well-formed URL") from exc
    scheme = parts.scheme.lower()
    if parts.fragment:
        raise _bad(url, f"fragment {parts.fragment!r} is not allowed", "no '#' in the URL")
    if scheme == "tcp":
        return _parse_tcp(url, parts.netloc, parts.path, parts.query)
    if scheme == "serial":
        return _parse_serial(url, parts.netloc, parts.path, parts.query)
    if scheme == "usb":
        return _parse_usb(url, parts.netloc, parts.path, parts.query)
    if scheme == "cups":
        return _parse_cups(url, parts.netloc, parts.path, parts.query)
    if scheme == "file":
        return _parse_file(url, parts.netloc, parts.path, parts.query)
    raise _bad(url, f"scheme {scheme!r} is not supported", "one of " + ", ".join(SCHEMES))
