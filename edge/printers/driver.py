"""Printer drivers: a ZPL and an ESC/POS printer, each holding a :class:`Transport`.

A driver polls the printer's status before each label so it never runs ahead (at
most ``max_in_flight`` labels queued in the printer), confirms a label where the
protocol allows, and publishes :class:`StatusChange` events. A printer that does not
answer, answers garbage or drops the link raises a typed error and publishes an
offline status; it never hangs.

>>> import asyncio
>>> from edge.drivers import open_transport
>>> from edge.printers.templates import ZplTemplate
>>> t = ZplTemplate.from_text("^XA^BQN,2,4^FDMA,{{digital_link}}^FS^XZ")
>>> ZplPrinter(open_transport("tcp://127.0.0.1:9100"), t).max_in_flight
2
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.drivers.base import Transport
from edge.printers.label_data import LabelData
from edge.printers.templates import EscposTemplate, ZplTemplate
from lineside.codecs.escpos import STATUS_REQUESTS, EscposEncoder, parse_dle_eot, status_request
from lineside.codecs.zpl import HOST_QUERY_STATUS, HOST_STATUS, download_truetype
from lineside.codecs.zpl_status import (
    PrinterStatus,
    StatusReplyError,
    parse_host_query,
    parse_status_replies,
    split_frames,
)
from lineside.errors import DeviceTimeout, PrinterFault, TransportError

logger = logging.getLogger(__name__)

#: Printer font names mapped to local TrueType files, downloaded once per connection.
DEFAULT_FONTS: Mapping[str, Path] = {
    "E:DEJAVU.TTF": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
}
OFFLINE = PrinterStatus(online=False)


@dataclass(frozen=True, slots=True)
class PrintReceipt:
    """What happened to one label: sent, and confirmed printed when the protocol says so."""

    sequence: int
    label_bytes: int
    confirmed: bool
    status: PrinterStatus
    seconds: float


@dataclass(frozen=True, slots=True)
class StatusChange:
    """The printer's status changed (``previous`` is ``None`` for the first reading)."""

    previous: PrinterStatus | None
    current: PrinterStatus
    reason: str = ""


@dataclass
class _Events:
    queues: list[asyncio.Queue[StatusChange]] = field(default_factory=list)
    callbacks: list[Callable[[StatusChange], None]] = field(default_factory=list)
    last: PrinterStatus | None = None

    def publish(self, status: PrinterStatus, reason: str) -> None:
        if status == self.last:
            return
        change = StatusChange(self.last, status, reason)
        self.last = status
        for queue in self.queues:
            queue.put_nowait(change)
        for callback in self.callbacks:
            callback(change)


class StatusSubscription:
    """An async iterator of :class:`StatusChange`, registered when created."""

    def __init__(self, events: _Events) -> None:
        self._events = events
        self._queue: asyncio.Queue[StatusChange] = asyncio.Queue()
        events.queues.append(self._queue)

    def __aiter__(self) -> StatusSubscription:
        return self

    async def __anext__(self) -> StatusChange:
        if self._queue not in self._events.queues and self._queue.empty():
            raise StopAsyncIteration
        return await self._queue.get()

    async def aclose(self) -> None:
        """Stop receiving changes."""
        if self._queue in self._events.queues:
            self._events.queues.remove(self._queue)


class _StatusSource:
    """Shared plumbing: event subscription and reading framed replies with a deadline."""

    def __init__(self, transport: Transport, *, status_timeout: float, max_in_flight: int) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.transport = transport
        self.status_timeout = status_timeout
        self.max_in_flight = max_in_flight
        self._events = _Events()
        self._lock = asyncio.Lock()
        self._sequence = 0

    @property
    def last_status(self) -> PrinterStatus | None:
        """The most recent status read (``None`` before the first)."""
        return self._events.last

    def on_status_change(self, callback: Callable[[StatusChange], None]) -> None:
        """Call ``callback`` for every status change (from the event loop's thread)."""
        self._events.callbacks.append(callback)

    def status_changes(self) -> StatusSubscription:
        """Subscribe now; iterate over the changes as they happen.

        The subscription starts when this is called (not at the first ``anext``), so
        no change published in between is missed. Close it with ``aclose()``.
        """
        return StatusSubscription(self._events)

    def _lost(self, exc: Exception) -> None:
        self._events.publish(OFFLINE, str(exc))

    async def _read_until(self, done: Callable[[bytes], bool], what: str) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.status_timeout
        data = b""
        while not done(data):
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                data += await self.transport.read(4096, timeout=remaining)
            except (TimeoutError, DeviceTimeout) as exc:
                raise DeviceTimeout(
                    f"{self.transport.url}: no complete {what} within {self.status_timeout:g} s"
                    + (f" (got {data[:40]!r})" if data else "")
                ) from exc
        return data


class ZplPrinter(_StatusSource):
    """A Zebra-compatible ZPL printer.

    ``confirm=True`` waits after each label until the printer's buffer has drained
    (``~HS`` formats in buffer and labels remaining both 0): the label has printed.

    Status is ``~HS`` (buffer counters, paper, head, pause) and, when the printer
    answers it, ``~HQES`` (cutter fault, printhead or motor too hot, printhead faults).
    ``host_query=None`` asks ``~HQES`` once, after the first ``~HS``, and keeps using it
    only if an answer comes within ``status_timeout`` (:attr:`host_query` then says
    which); ``False`` never asks; ``True`` always asks.
    """

    def __init__(
        self,
        transport: Transport,
        template: ZplTemplate,
        *,
        fonts: Mapping[str, Path] = DEFAULT_FONTS,
        max_in_flight: int = 2,
        status_timeout: float = 2.0,
        confirm: bool = True,
        print_timeout: float = 30.0,
        poll_interval: float = 0.02,
        host_query: bool | None = None,
    ) -> None:
        super().__init__(transport, status_timeout=status_timeout, max_in_flight=max_in_flight)
        self.template = template
        self.fonts = fonts
        self.confirm = confirm
        self.print_timeout = print_timeout
        self.poll_interval = poll_interval
        self.host_query = host_query
        self._fonts_sent = False

    async def status(self) -> PrinterStatus:
        """Ask ``~HS`` (and ``~HQES``, see the class) and parse; publish a change if any."""
        query = bool(self.host_query)
        try:
            await self.transport.write(HOST_STATUS + HOST_QUERY_STATUS if query else HOST_STATUS)
            frames = 4 if query else 3
            what = "~HS and ~HQES replies" if query else "~HS reply"
            reply = await self._read_until(lambda d: len(split_frames(d)[0]) >= frames, what)
            status = parse_status_replies(reply, host_query=query)
            if self.host_query is None:
                status = await self._probe_host_query(status)
        except (StatusReplyError, TransportError) as exc:
            self._lost(exc)
            raise
        self._events.publish(status, "~HS+~HQES" if self.host_query else "~HS")
        return status

    async def _probe_host_query(self, status: PrinterStatus) -> PrinterStatus:
        await self.transport.write(HOST_QUERY_STATUS)
        try:
            reply = await self._read_until(lambda d: bool(split_frames(d)[0]), "~HQES reply")
        except DeviceTimeout:
            logger.info("%s: no answer to ~HQES; using ~HS alone", self.transport.url)
            self.host_query = False
            return status
        status = parse_host_query(reply).apply_to(status)
        self.host_query = True
        return status

    async def download_fonts(self) -> None:
        """Send every TrueType font the template names (``~DY``), once per connection."""
        for name in sorted(self.template.fonts):
            path = self.fonts.get(name)
            if path is None:
                raise PrinterFault(
                    f"{self.template.source}: font {name} has no local file; "
                    f"configure one (known: {', '.join(self.fonts) or 'none'})"
                )
            if not path.is_file():
                raise PrinterFault(
                    f"font {name}: {path} is missing; install fonts-dejavu-core or configure "
                    "another TrueType file with the Vietnamese glyphs"
                )
            await self.transport.write(download_truetype(name, path.read_bytes()))
        self._fonts_sent = True

    async def _wait_until(
        self, ok: Callable[[PrinterStatus], bool], what: str, *, sent: bool = False
    ) -> PrinterStatus:
        """Poll until ``ok``; a fault raises :class:`PrinterFault`.

        ``sent``: waiting for a label already sent. Once it has printed (``ok``), a fault
        reported with it concerns the next label (paper ran out after this one), so the
        label is not reported as failed and then printed twice by a retry.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.print_timeout
        while True:
            status = await self.status()
            if sent and ok(status):
                return status
            if status.faults:
                raise PrinterFault(
                    f"{self.transport.url}: printer reports {', '.join(status.faults)}"
                )
            if ok(status):
                return status
            if loop.time() >= deadline:
                raise DeviceTimeout(f"{self.transport.url}: {what} within {self.print_timeout:g} s")
            await asyncio.sleep(self.poll_interval)

    async def print_label(self, data: LabelData) -> PrintReceipt:
        """Render, wait for room, send, and (with ``confirm``) wait until printed."""
        label = self.template.render(data)
        started = time.perf_counter()
        async with self._lock:
            if not self._fonts_sent:
                await self.download_fonts()
            await self._wait_until(
                lambda s: s.formats_in_buffer + s.labels_remaining < self.max_in_flight,
                "no room in the printer's buffer",
            )
            try:
                await self.transport.write(label)
            except TransportError as exc:
                self._lost(exc)
                raise
            self._sequence += 1
            status = self._events.last or PrinterStatus()
            if self.confirm:
                status = await self._wait_until(
                    lambda s: not s.busy, "label not printed", sent=True
                )
            return PrintReceipt(
                self._sequence, len(label), self.confirm, status, time.perf_counter() - started
            )


class EscposPrinter(_StatusSource):
    """An ESC/POS thermal printer; status by ``DLE EOT 1..4``.

    ESC/POS has no job counter, so a receipt is never ``confirmed``; the status read
    after the label still catches a paper-out or an opened cover.
    """

    def __init__(
        self,
        transport: Transport,
        template: EscposTemplate,
        *,
        encoder: EscposEncoder | None = None,
        status_timeout: float = 2.0,
    ) -> None:
        super().__init__(transport, status_timeout=status_timeout, max_in_flight=1)
        self.template = template
        self.encoder = encoder or EscposEncoder(
            text_mode="raster" if template.codepage == "raster" else "codepage",
            width_dots=template.width_dots,
        )

    async def status(self) -> PrinterStatus:
        """Send ``DLE EOT 1..4`` and parse the four one-byte replies."""
        replies: dict[int, int] = {}
        try:
            for n in STATUS_REQUESTS:
                await self.transport.write(status_request(n))
                reply = await self._read_until(bool, f"DLE EOT {n} reply")
                if len(reply) != 1:
                    raise StatusReplyError(
                        f"DLE EOT {n} reply: expected 1 byte, got {len(reply)} ({reply[:8]!r})"
                    )
                replies[n] = reply[0]
            status = parse_dle_eot(replies)
        except (StatusReplyError, TransportError) as exc:
            self._lost(exc)
            raise
        self._events.publish(status, "DLE EOT")
        return status

    async def print_label(self, data: LabelData) -> PrintReceipt:
        """Check the printer is ready, send the label, read the status again."""
        payload = self.encoder.encode(self.template.fill(data))
        started = time.perf_counter()
        async with self._lock:
            before = await self.status()
            if before.faults:
                raise PrinterFault(
                    f"{self.transport.url}: printer reports {', '.join(before.faults)}"
                )
            try:
                await self.transport.write(payload)
            except TransportError as exc:
                self._lost(exc)
                raise
            self._sequence += 1
            after = await self.status()
            if after.faults:
                raise PrinterFault(
                    f"{self.transport.url}: label {self._sequence} may be lost: printer reports "
                    f"{', '.join(after.faults)}"
                )
            return PrintReceipt(
                self._sequence, len(payload), False, after, time.perf_counter() - started
            )


__all__ = ["EscposPrinter", "PrintReceipt", "StatusChange", "ZplPrinter"]
