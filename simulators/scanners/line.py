"""Line scanners on real wires: a serial reader on a pseudo-terminal, TCP readers.

Each simulator speaks what a real reader speaks (one read per line) on a real
pseudo-terminal or TCP port, so the driver under test is the production driver with a
different URL::

    async with SerialScannerSimulator(ScanFaults(drop_gs=True)) as sim:
        scanner = open_scanner(sim.url, "verify-1")
        await sim.scan("(01)08934567890120(21)ABC")

Scripted use: :meth:`play` reads codes at a rate; :attr:`queue` plus :meth:`run_queue`
lets another test (the line engine's) feed codes as units pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import pty
import tty
from collections.abc import Iterable

from lineside.lifecycle import AsyncResource
from simulators.scanners.codes import ScanEncoder, ScanFaults, SimCode, SimStats, code_from_text

logger = logging.getLogger(__name__)


class _LineSimulator(AsyncResource):
    """The shared script machinery; subclasses only open, close and move bytes."""

    url: str

    def __init__(self, faults: ScanFaults | None = None, seed: int | None = 0) -> None:
        self.encoder = ScanEncoder(faults, seed)
        self.queue: asyncio.Queue[SimCode | str] = asyncio.Queue()

    @property
    def stats(self) -> SimStats:
        """Counts of scanned, missed and misread codes, and every byte string sent."""
        return self.encoder.stats

    async def send_raw(self, data: bytes) -> None:
        """Transmit ``data`` as is (noise, random bytes, an unterminated megabyte)."""
        raise NotImplementedError

    async def scan(self, code: SimCode | str) -> bytes | None:
        """Read one code (text as in :func:`code_from_text`); returns the bytes sent."""
        sim_code = code if isinstance(code, SimCode) else code_from_text(code)
        wire = self.encoder.encode(sim_code)
        if wire is not None:
            await self.send_raw(wire)
        return wire

    async def play(self, codes: Iterable[SimCode | str], rate: float = 10.0) -> SimStats:
        """Read ``codes`` at ``rate`` reads per second; returns the statistics."""
        interval = 1.0 / rate if rate > 0 else 0.0
        for code in codes:
            await self.scan(code)
            if interval:
                await asyncio.sleep(interval)
        return self.stats

    async def run_queue(self, rate: float = 0.0) -> None:
        """Read whatever is put on :attr:`queue`, for ever (cancel to stop)."""
        interval = 1.0 / rate if rate > 0 else 0.0
        while True:
            code = await self.queue.get()
            await self.scan(code)
            if interval:
                await asyncio.sleep(interval)


class SerialScannerSimulator(_LineSimulator):
    """A serial reader on a pseudo-terminal; the driver opens :attr:`path`."""

    def __init__(
        self, faults: ScanFaults | None = None, seed: int | None = 0, *, baud: int = 9600
    ) -> None:
        super().__init__(faults, seed)
        self.baud = baud
        self._master: int | None = None
        self._slave: int | None = None
        self.path = ""
        self.url = ""

    async def open(self) -> None:
        """Open the pseudo-terminal; :attr:`path` and :attr:`url` name its reader end."""
        master, slave = pty.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        self.url = f"serial://{self.path}?baud={self.baud}"

    async def close(self) -> None:
        """Close both ends of the pseudo-terminal."""
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    async def send_raw(self, data: bytes) -> None:
        if self._master is None:
            raise RuntimeError("the simulator is not open: use 'async with'")
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._master, view)
            except BlockingIOError:
                await asyncio.sleep(0.001)  # the reader has not drained the pty yet
                continue
            except OSError as exc:
                if exc.errno == errno.EIO:
                    await asyncio.sleep(0.001)
                    continue
                raise
            view = view[written:]


class TcpScannerSimulator(_LineSimulator):
    """A fixed-mount reader in server mode: it listens, the driver connects (``tcp://``)."""

    def __init__(
        self,
        faults: ScanFaults | None = None,
        seed: int | None = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(faults, seed)
        self.host = host
        self.port = port
        self.url = ""
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._client_event = asyncio.Event()

    async def open(self) -> None:
        """Listen on :attr:`port` (0 picks a free one); :attr:`url` is where to connect."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"tcp://{self.host}:{self.port}"

    async def close(self) -> None:
        """Stop listening and drop every client."""
        self.drop_clients()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(OSError):
                await self._server.wait_closed()
            self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        self._client_event.set()
        with contextlib.suppress(OSError):
            while await reader.read(1024):
                pass  # readers ignore what the host sends
        self._clients.discard(writer)
        writer.close()

    @property
    def client_count(self) -> int:
        """How many drivers are connected."""
        return len(self._clients)

    async def wait_for_client(self, timeout: float = 5.0) -> None:
        """Wait until a driver is connected."""
        while not self._clients:
            self._client_event.clear()
            await asyncio.wait_for(self._client_event.wait(), timeout)

    def drop_clients(self) -> None:
        """Reset every connection (a reader rebooting, a cable pulled)."""
        for writer in list(self._clients):
            writer.transport.abort()
        self._clients.clear()

    async def send_raw(self, data: bytes) -> None:
        for writer in list(self._clients):
            try:
                writer.write(data)
                await writer.drain()
            except OSError:
                self._clients.discard(writer)


class TcpClientScannerSimulator(_LineSimulator):
    """A reader in client mode: it connects to the driver (``tcp-listen://``)."""

    def __init__(
        self, host: str, port: int, faults: ScanFaults | None = None, seed: int | None = 0
    ) -> None:
        super().__init__(faults, seed)
        self.host = host
        self.port = port
        self.url = f"tcp://{host}:{port}"
        self._writer: asyncio.StreamWriter | None = None

    async def connect(self, timeout: float = 5.0) -> None:
        """Connect, retrying until the driver listens or ``timeout`` passes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                _, self._writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.02)
                continue
            return

    async def open(self) -> None:
        """Connect to the driver (see :meth:`connect`)."""
        await self.connect()

    async def close(self) -> None:
        """Close the connection."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def send_raw(self, data: bytes) -> None:
        if self._writer is None:
            raise RuntimeError("the simulator is not connected")
        self._writer.write(data)
        await self._writer.drain()
