"""File transport: writes append to a file; reads follow the same file from its start.

Useful to capture what a printer would receive, or to replay a recorded scanner stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import BinaryIO

from edge.drivers.base import Transport
from edge.drivers.url import FileSpec
from lineside.errors import DeviceTimeout, TransportError

#: How often a read waiting at the end of the file looks for new data.
POLL_INTERVAL = 0.02


class FileTransport(Transport):
    """A file on disk.

    >>> from edge.drivers.url import parse_transport_url
    >>> FileTransport(parse_transport_url("file:///tmp/labels.zpl")).url
    'file:///tmp/labels.zpl'
    """

    def __init__(self, spec: FileSpec) -> None:
        self.url = spec.url
        self._spec = spec
        self._out: BinaryIO | None = None
        self._in: BinaryIO | None = None

    @property
    def is_open(self) -> bool:
        return self._out is not None

    async def open(self) -> None:
        await self.close()
        try:
            self._out = open(self._spec.path, "ab")  # noqa: SIM115 - closed in close()
            self._in = open(self._spec.path, "rb")  # noqa: SIM115
        except OSError as exc:
            await self.close()
            raise TransportError(f"{self.url}: cannot open {self._spec.path}: {exc}") from exc

    async def close(self) -> None:
        for handle in (self._out, self._in):
            if handle is not None:
                with contextlib.suppress(OSError):
                    handle.close()
        self._out = self._in = None

    async def write(self, data: bytes) -> None:
        if self._out is None:
            raise TransportError(f"{self.url}: not open")
        try:
            self._out.write(data)
            self._out.flush()
        except OSError as exc:
            raise TransportError(f"{self.url}: write failed: {exc}") from exc

    async def read(self, max_bytes: int = 4096, timeout: float | None = None) -> bytes:
        if self._in is None:
            raise TransportError(f"{self.url}: not open")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            try:
                data = self._in.read(max_bytes)
            except OSError as exc:
                raise TransportError(f"{self.url}: read failed: {exc}") from exc
            if data:
                return data
            if deadline is not None and loop.time() >= deadline:
                raise DeviceTimeout(f"{self.url}: no data within {timeout:g} s")
            await asyncio.sleep(POLL_INTERVAL)
