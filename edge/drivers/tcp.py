"""Raw TCP transport (asyncio streams), e.g. a Zebra's port 9100 or a TCP scanner."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from edge.drivers.base import Transport
from edge.drivers.url import TcpSpec
from lineside.errors import DeviceTimeout, TransportError

logger = logging.getLogger(__name__)

#: Wait for the kernel to take the bytes only when more than this is still buffered
#: (asyncio's default high-water mark is 64 KiB: a label never waits below it).
_DRAIN_ABOVE = 16 * 1024


class TcpTransport(Transport):
    """A TCP client.

    >>> t = TcpTransport(TcpSpec("tcp://127.0.0.1:9100", "127.0.0.1", 9100))
    >>> t.is_open
    False
    """

    def __init__(
        self, spec: TcpSpec, *, connect_timeout: float = 5.0, write_timeout: float = 5.0
    ) -> None:
        self.url = spec.url
        self._spec = spec
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._failed = False

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._failed

    async def open(self) -> None:
        if self._writer is not None:
            await self.close()
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_connection(self._spec.host, self._spec.port),
                self._connect_timeout,
            )
        except TimeoutError as exc:
            raise DeviceTimeout(
                f"{self.url}: no connection within {self._connect_timeout:g} s"
            ) from exc
        except OSError as exc:
            raise TransportError(f"{self.url}: cannot connect: {exc.strerror or exc}") from exc
        self._failed = False
        logger.debug("connected to %s", self.url)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 1.0)

    def _require(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            raise TransportError(f"{self.url}: not open")
        if self._failed:
            raise TransportError(f"{self.url}: the link failed; reopen it")
        return self._reader, self._writer

    async def write(self, data: bytes) -> None:
        _, writer = self._require()
        try:
            writer.write(data)
            # Below the high-water mark drain() returns at once: skip it (and its timer).
            if writer.transport.get_write_buffer_size() > _DRAIN_ABOVE:
                async with asyncio.timeout(self._write_timeout):
                    await writer.drain()
            elif writer.transport.is_closing():
                raise ConnectionResetError("connection lost")
        except TimeoutError as exc:
            self._failed = True
            raise DeviceTimeout(
                f"{self.url}: device did not accept {len(data)} bytes within "
                f"{self._write_timeout:g} s"
            ) from exc
        except (OSError, RuntimeError) as exc:
            self._failed = True
            raise TransportError(f"{self.url}: write failed: {exc}") from exc

    async def read(self, max_bytes: int = 4096, timeout: float | None = None) -> bytes:
        reader, _ = self._require()
        try:
            async with asyncio.timeout(timeout):
                data = await reader.read(max_bytes)
        except TimeoutError as exc:
            raise DeviceTimeout(f"{self.url}: no data within {timeout:g} s") from exc
        except OSError as exc:
            self._failed = True
            raise TransportError(f"{self.url}: read failed: {exc}") from exc
        if not data:
            self._failed = True
            raise TransportError(f"{self.url}: the device closed the connection")
        return data
