"""Non-blocking reads and writes on a file descriptor, driven by the event loop.

Shared by the serial and ``usblp`` transports: the descriptor is in ``O_NONBLOCK`` mode
and the loop's ``add_reader``/``add_writer`` wake the coroutine, so nothing blocks.
"""

from __future__ import annotations

import asyncio
import os

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
