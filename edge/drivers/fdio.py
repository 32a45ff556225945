"""Non-blocking reads and writes on a file descriptor, driven by the event loop.

Shared by the serial and ``usblp`` transports (through :class:`FdTransport`): the
descriptor is in ``O_NONBLOCK`` mode and the loop's ``add_reader``/``add_writer`` wake
the coroutine, so nothing blocks.
"""

from __future__ import annotations

import abc
import asyncio
import os

from edge.drivers.base import Transport
from lineside.errors import DeviceTimeout, TransportError


class LinkLost(TransportError):
    """The descriptor failed (hang-up, EIO); the transport must be reopened."""


async def _wait(fd: int, *, writable: bool, timeout: float | None) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if writable:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        if writable:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def write_all(fd: int, data: bytes, *, url: str, timeout: float) -> None:
    """Write every byte of ``data`` or raise ``DeviceTimeout``/``LinkLost``."""
    view = memoryview(data)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while view:
        try:
            sent = os.write(fd, view)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise LinkLost(f"{url}: write failed: {exc}") from exc
        view = view[sent:]
        if not view:
            return
        remaining = deadline - loop.time()
        try:
            if remaining <= 0:
                raise TimeoutError
            await _wait(fd, writable=True, timeout=remaining)
        except TimeoutError as exc:
            raise DeviceTimeout(
                f"{url}: device did not accept {len(view)} of {len(data)} bytes "
                f"within {timeout:g} s (flow control held?)"
            ) from exc


async def read_some(fd: int, max_bytes: int, *, url: str, timeout: float | None) -> bytes:
    """Return 1..max_bytes bytes, or raise ``DeviceTimeout``/``LinkLost``."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    woken = False
    while True:
        try:
            data = os.read(fd, max_bytes)
        except BlockingIOError:
            data = b""
        except OSError as exc:
            # A pseudo-terminal whose other side closed answers EIO; an unplugged
            # USB adapter answers EIO or ENODEV.
            raise LinkLost(f"{url}: read failed: {exc}") from exc
        if data:
            return data
        if woken:
            # A raw tty (VMIN=0) returns b"" when idle, so empty data alone means
            # nothing; readable-but-empty right after poll() means the device is gone.
            raise LinkLost(f"{url}: the device hung up (readable but no data)")
        remaining = None if deadline is None else deadline - loop.time()
        try:
            if remaining is not None and remaining <= 0:
                raise TimeoutError
            await _wait(fd, writable=False, timeout=remaining)
        except TimeoutError as exc:
            raise DeviceTimeout(f"{url}: no data within {timeout:g} s") from exc
        woken = True


class FdTransport(Transport):
    """A transport whose link is one non-blocking file descriptor.

    Subclasses open and close the descriptor and say which it is (:meth:`_descriptor`);
    reads, writes and marking the link failed when the descriptor fails live here, so a
    failed link refuses further use until it is reopened::

        class NodeTransport(FdTransport):
            def _descriptor(self) -> int | None:
                return self._fd
    """

    def __init__(self, url: str, *, write_timeout: float) -> None:
        self.url = url
        self._write_timeout = write_timeout
        self._failed = False

    @abc.abstractmethod
    def _descriptor(self) -> int | None:
        """The open descriptor, or ``None`` while closed."""

    @property
    def is_open(self) -> bool:
        return self._descriptor() is not None and not self._failed

    def _require(self) -> int:
        fd = self._descriptor()
        if fd is None:
            raise TransportError(f"{self.url}: not open")
        if self._failed:
            raise TransportError(f"{self.url}: the link failed; reopen it")
        return fd

    async def write(self, data: bytes) -> None:
        fd = self._require()
        try:
            await write_all(fd, data, url=self.url, timeout=self._write_timeout)
        except (LinkLost, DeviceTimeout):
            self._failed = True
            raise

    async def read(self, max_bytes: int = 4096, timeout: float | None = None) -> bytes:
        fd = self._require()
        try:
            return await read_some(fd, max_bytes, url=self.url, timeout=timeout)
        except LinkLost:
            self._failed = True
            raise
