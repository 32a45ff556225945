"""Serial transport: RS-232, USB-CDC or a pseudo-terminal, driven by the event loop.

pyserial opens and configures the port (baud, parity, flow control); the bytes then go
through the non-blocking file descriptor with ``loop.add_reader``/``add_writer``, so a
slow or silent device never blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os

import serial

from edge.drivers.fdio import FdTransport
from edge.drivers.url import SerialSpec
from lineside.errors import TransportError

logger = logging.getLogger(__name__)

_PARITY = {
    "N": serial.PARITY_NONE,
    "E": serial.PARITY_EVEN,
    "O": serial.PARITY_ODD,
    "M": serial.PARITY_MARK,
    "S": serial.PARITY_SPACE,
}


class SerialTransport(FdTransport):
    """A serial port.

    >>> from edge.drivers.url import parse_transport_url
    >>> spec = parse_transport_url("serial:///dev/ttyS0?baud=19200")
    >>> SerialTransport(spec).url  # doctest: +SKIP
    'serial:///dev/ttyS0?baud=19200'
    """

    def __init__(self, spec: SerialSpec, *, write_timeout: float = 5.0) -> None:
        super().__init__(spec.url, write_timeout=write_timeout)
        self._spec = spec
        self._port: serial.Serial | None = None

    def _open_blocking(self) -> serial.Serial:
        spec = self._spec
        port = serial.Serial(
            port=spec.path,
            baudrate=spec.baudrate,
            bytesize=spec.bytesize,
            parity=_PARITY[spec.parity],
            stopbits=spec.stopbits,
            rtscts=spec.rtscts,
            xonxoff=spec.xonxoff,
            timeout=0,
            exclusive=True,
        )
        fd = port.fileno()
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        return port

    async def open(self) -> None:
        if self._port is not None:
            await self.close()
        try:
            self._port = await asyncio.to_thread(self._open_blocking)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise TransportError(f"{self.url}: cannot open {self._spec.path}: {exc}") from exc
        self._failed = False
        logger.debug("opened %s", self.url)

    async def close(self) -> None:
        port, self._port = self._port, None
        if port is None:
            return
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError, ValueError):
            fd = port.fileno()
            loop.remove_reader(fd)
            loop.remove_writer(fd)
        with contextlib.suppress(OSError, serial.SerialException):
            port.close()

    def _descriptor(self) -> int | None:
        return None if self._port is None else int(self._port.fileno())
