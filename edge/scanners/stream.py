"""Line-oriented scanners: serial, TCP client (we connect) and TCP server (it connects).

All three frame bytes with :class:`~lineside.codecs.framing.LineFramer` and parse with
:class:`~edge.scanners.read.ReadStamper`; they differ only in where the bytes come from.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable

from edge.drivers.base import Transport
from edge.scanners.base import SCANNER_BACKOFF, Scanner
from edge.scanners.read import ReadStamper, ScanEvent, ScannerState
from lineside.backoff import Backoff
from lineside.codecs.framing import LineFramer
from lineside.errors import TransportError

logger = logging.getLogger(__name__)


class StreamScanner(Scanner):
    """A reader behind a :class:`Transport` (serial port, or TCP as a client).

    ``transport_factory`` builds a fresh, unopened transport for every connection
    attempt, e.g. ``lambda: open_transport("tcp://10.0.0.7:2001")``.
    """

    def __init__(
        self,
        device_id: str,
        url: str,
        transport_factory: Callable[[], Transport],
        *,
        stamper: ReadStamper | None = None,
        terminator: bytes = b"\r\n",
        max_length: int = 4096,
        backoff: Backoff = SCANNER_BACKOFF,
    ) -> None:
        self.device_id = device_id
        self.url = url
        self._factory = transport_factory
        self._stamper = stamper or ReadStamper(device_id)
        self._terminator = terminator
        self._max_length = max_length
        self._backoff = backoff

    async def events(self) -> AsyncGenerator[ScanEvent, None]:
        stamper = self._stamper
        framer = LineFramer(self._terminator, self._max_length)
        delays = self._backoff.delays()
        yield stamper.status(ScannerState.CONNECTING, self.url)
        while True:
            transport = self._factory()
            try:
                await transport.open()
            except TransportError as exc:
                delay = next(delays, self._backoff.maximum)
                logger.warning("%s: %s; retry in %.1f s", self.device_id, exc, delay)
                yield stamper.status(ScannerState.DISCONNECTED, str(exc), delay)
                await asyncio.sleep(delay)
                continue
            framer.reset()
            yield stamper.status(ScannerState.CONNECTED, self.url)
            try:
                while True:
                    data = await transport.read(4096)
                    # The link is proven good once bytes flow: start backoff afresh.
                    delays = self._backoff.delays()
                    for frame in framer.feed(data):
                        yield stamper.frame(frame)
            except TransportError as exc:
                delay = next(delays, self._backoff.maximum)
                logger.warning("%s: lost: %s; retry in %.1f s", self.device_id, exc, delay)
                yield stamper.status(ScannerState.DISCONNECTED, str(exc), delay)
            finally:
                await transport.close()
            await asyncio.sleep(delay)


class ListeningScanner(Scanner):
    """A fixed-mount reader in TCP client mode: it connects to us, one read per line.

    Several readers may connect; each connection has its own framer. ``port=0`` picks a
    free port, reported in the ``listening`` status event and in :attr:`bound_port`.
    """

    def __init__(
        self,
        device_id: str,
        url: str,
        host: str,
        port: int,
        *,
        stamper: ReadStamper | None = None,
        terminator: bytes = b"\r\n",
        max_length: int = 4096,
        backoff: Backoff = SCANNER_BACKOFF,
    ) -> None:
        self.device_id = device_id
        self.url = url
        self.host = host
        self.port = port
        self.bound_port: int | None = None
        self._stamper = stamper or ReadStamper(device_id)
        self._terminator = terminator
        self._max_length = max_length
        self._backoff = backoff

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        queue: asyncio.Queue[ScanEvent],
    ) -> None:
        peer = writer.get_extra_info("peername")
        name = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        stamper = self._stamper
        framer = LineFramer(self._terminator, self._max_length)
        queue.put_nowait(stamper.status(ScannerState.CONNECTED, f"reader {name} connected"))
        detail = f"reader {name} closed the connection"
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                for frame in framer.feed(data):
                    queue.put_nowait(stamper.frame(frame))
        except OSError as exc:
            detail = f"reader {name}: {exc.strerror or exc}"
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        logger.warning("%s: %s", self.device_id, detail)
        queue.put_nowait(stamper.status(ScannerState.DISCONNECTED, detail))

    async def events(self) -> AsyncGenerator[ScanEvent, None]:
        stamper = self._stamper
        queue: asyncio.Queue[ScanEvent] = asyncio.Queue()
        tasks: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await self._serve(reader, writer, queue)

        delays = self._backoff.delays()
        while True:
            try:
                server = await asyncio.start_server(accept, self.host, self.port)
            except OSError as exc:
                delay = next(delays, self._backoff.maximum)
                detail = f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}"
                logger.warning("%s: %s; retry in %.1f s", self.device_id, detail, delay)
                yield stamper.status(ScannerState.DISCONNECTED, detail, delay)
                await asyncio.sleep(delay)
                continue
            break
        try:
            self.bound_port = server.sockets[0].getsockname()[1]
            yield stamper.status(
                ScannerState.LISTENING, f"listening on {self.host}:{self.bound_port}"
            )
            while True:
                yield await queue.get()
        finally:
            server.close()
            for task in list(tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(OSError):
                await server.wait_closed()
            self.bound_port = None
