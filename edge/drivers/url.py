"""Parse a transport URL into a typed, validated description of the device link.

Transports are chosen by URL so that a simulator and a real device differ only in a
string from the config file::

    tcp://10.0.0.5:9100
    serial:///dev/ttyUSB0?baud=9600&bytesize=8&parity=N&stopbits=1&rtscts=0
    usb://0a5f:0100            (pyusb, vendor:product in hex)
    usb:///dev/usb/lp0         (the kernel's usblp device node)
    cups://Zebra_ZT230         (a raw CUPS queue, through ``lpr``)
    file:///var/spool/lineside/labels.zpl

The URL grammar, its options and its error messages are :mod:`edge.device_url`'s, shared
with the scanners; errors are :class:`~edge.device_url.DeviceUrlError` (a
:class:`lineside.errors.ConfigError`) naming the URL and the bad part.

>>> parse_transport_url("tcp://printer-1:9100")
TcpSpec(url='tcp://printer-1:9100', host='printer-1', port=9100)
>>> parse_transport_url("serial:///dev/ttyUSB0?baud=115200").baudrate
115200
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from edge.device_url import DeviceKind, DeviceUrl, UrlOptions, parse_device_url

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

#: The URLs a printer's (or a relay's) link may have, with an example of each.
TRANSPORT_URLS = DeviceKind(
    "transport",
    {
        "tcp": "tcp://host:port, e.g. tcp://10.0.0.5:9100",
        "serial": "serial:///dev/ttyUSB0 (three slashes)",
        "usb": "usb://VID:PID, e.g. usb://0a5f:0100, or usb:///dev/usb/lp0",
        "cups": "cups://QUEUE_NAME",
        "file": "file:///path/to/file",
    },
)
SCHEMES = TRANSPORT_URLS.schemes


def _no_path(device: DeviceUrl, after: str) -> None:
    if device.path not in ("", "/"):
        raise device.error(f"path {device.path!r} is not allowed{after}")


def _tcp(device: DeviceUrl, options: UrlOptions) -> TcpSpec:
    _no_path(device, "")
    host, port = device.host_port()
    return TcpSpec(url=device.url, host=host, port=port)


def _serial(device: DeviceUrl, options: UrlOptions) -> SerialSpec:
    if device.netloc:
        raise device.error(f"host part {device.netloc!r} is not allowed")
    if device.path in ("", "/"):
        raise device.error("the device path is missing")
    parity: Parity = _PARITIES[options.choice("parity", "N", tuple(_PARITIES), fold_case=True)]
    stopbits = options.choice("stopbits", "1", ("1", "1.5", "2"))
    return SerialSpec(
        url=device.url,
        path=device.decoded_path,
        baudrate=options.integer("baud", 9600, choices=_BAUD_RATES),
        bytesize=options.integer("bytesize", 8, choices={5, 6, 7, 8}),
        parity=parity,
        stopbits=float(stopbits) if stopbits == "1.5" else int(stopbits),
        rtscts=options.flag("rtscts", False),
        xonxoff=options.flag("xonxoff", False),
    )


def _hex_id(device: DeviceUrl, label: str, text: str) -> int:
    if not 1 <= len(text) <= 4 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise device.error(f"{label} {text!r} is not 1-4 hex digits")
    return int(text, 16)


def _usb(device: DeviceUrl, options: UrlOptions) -> UsbSpec | UsbLpSpec:
    if not device.netloc:
        if not device.path.startswith("/dev/"):
            raise device.error(f"path {device.path!r} is not a device node", "usb:///dev/usb/lp0")
        return UsbLpSpec(url=device.url, path=device.decoded_path)
    _no_path(device, " after VID:PID")
    vid, sep, pid = device.netloc.partition(":")
    if not sep:
        raise device.error(f"{device.netloc!r} has no ':' between vendor and product id")
    return UsbSpec(
        url=device.url,
        vendor_id=_hex_id(device, "vendor id", vid),
        product_id=_hex_id(device, "product id", pid),
        serial_number=options.optional("serial"),
    )


def _cups(device: DeviceUrl, options: UrlOptions) -> CupsSpec:
    queue = unquote(device.netloc)
    if not queue:
        raise device.error("the queue name is missing")
    _no_path(device, " after the queue name")
    if any(c.isspace() or c in "/#" for c in queue):
        raise device.error(f"queue name {queue!r} has a space, '/' or '#'", "a CUPS queue name")
    return CupsSpec(url=device.url, queue=queue)


def _file(device: DeviceUrl, options: UrlOptions) -> FileSpec:
    if device.netloc or device.path in ("", "/"):
        raise device.error("the path must be absolute with no host")
    return FileSpec(url=device.url, path=device.decoded_path)


_PARITIES: dict[str, Parity] = {"N": "N", "E": "E", "O": "O", "M": "M", "S": "S"}
_BUILDERS: dict[str, Callable[[DeviceUrl, UrlOptions], TransportSpec]] = {
    "tcp": _tcp,
    "serial": _serial,
    "usb": _usb,
    "cups": _cups,
    "file": _file,
}


def transport_spec(device: DeviceUrl, options: UrlOptions) -> TransportSpec:
    """The link a parsed URL names, reading its scheme's options from ``options``.

    The caller calls ``options.finish()`` afterwards (a scanner reads its own options
    from the same query first).
    """
    return _BUILDERS[device.scheme](device, options)


def parse_transport_url(url: str, kind: DeviceKind = TRANSPORT_URLS) -> TransportSpec:
    """Validate ``url`` and return the typed description of the link it names.

    ``kind`` narrows the schemes (and names the device in messages), e.g. a reject relay
    is wired to a serial line or a TCP socket only.

    >>> parse_transport_url("usb://0a5f:0100")
    UsbSpec(url='usb://0a5f:0100', vendor_id=2655, product_id=256, serial_number=None)
    >>> parse_transport_url("lpt://1")
    Traceback (most recent call last):
    ...
    edge.device_url.DeviceUrlError: transport URL 'lpt://1': scheme 'lpt' is not supported; \
expected one of tcp, serial, usb, cups, file
    """
    device = parse_device_url(url, kind)
    options = device.options()
    spec = transport_spec(device, options)
    options.finish()
    return spec
