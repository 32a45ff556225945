"""Transports: the byte pipes between the agent and its devices, chosen by URL.

A driver (printer or scanner) holds a :class:`Transport`; it never inherits from one.
``open_transport("tcp://10.0.0.5:9100")`` returns the right implementation, so a
simulator and a real device differ only in their URL::

    async with open_transport("serial:///dev/ttyUSB0?baud=9600") as link:
        await link.write(b"~HS")
        reply = await link.read(timeout=1.0)

Supported URLs are documented in :mod:`edge.drivers.url`.
"""

from __future__ import annotations

from edge.drivers.base import Transport
from edge.drivers.cups import CupsTransport
from edge.drivers.file import FileTransport
from edge.drivers.reconnect import ReconnectingTransport, open_with_backoff
from edge.drivers.serial_port import SerialTransport
from edge.drivers.tcp import TcpTransport
from edge.drivers.url import (
    CupsSpec,
    FileSpec,
    SerialSpec,
    TcpSpec,
    TransportSpec,
    UsbLpSpec,
    UsbSpec,
    parse_transport_url,
)
from edge.drivers.usb import UsbLpTransport, UsbTransport
from lineside.backoff import Backoff


def open_transport(url: str, *, timeout: float = 5.0, backoff: Backoff | None = None) -> Transport:
    """Build the transport ``url`` names, not yet opened (use ``async with`` or ``open()``).

    ``timeout`` bounds connecting and writing; reads take their own timeout. With
    ``backoff`` the transport is wrapped in a :class:`ReconnectingTransport`.
    Raises :class:`lineside.errors.ConfigError` naming the bad part of the URL.

    >>> open_transport("tcp://127.0.0.1:9100")  # doctest: +ELLIPSIS
    <edge.drivers.tcp.TcpTransport object at ...>
    """
    spec = parse_transport_url(url)
    transport: Transport
    match spec:
        case TcpSpec():
            transport = TcpTransport(spec, connect_timeout=timeout, write_timeout=timeout)
        case SerialSpec():
            transport = SerialTransport(spec, write_timeout=timeout)
        case UsbSpec():
            transport = UsbTransport(spec, write_timeout=timeout)
        case UsbLpSpec():
            transport = UsbLpTransport(spec, write_timeout=timeout)
        case CupsSpec():
            transport = CupsTransport(spec)
        case FileSpec():
            transport = FileTransport(spec)
    if backoff is not None:
        return ReconnectingTransport(transport, backoff)
    return transport


__all__ = [
    "CupsTransport",
    "FileTransport",
    "ReconnectingTransport",
    "SerialTransport",
    "TcpTransport",
    "Transport",
    "TransportSpec",
    "UsbLpTransport",
    "UsbTransport",
    "open_transport",
    "open_with_backoff",
    "parse_transport_url",
]
