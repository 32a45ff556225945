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
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.drivers.base import Transport
from edge.printers.label_data import LabelData
from edge.printers.templates import EscposTemplate, ZplTemplate
from lineside.codecs.escpos import STATUS_REQUESTS, EscposEncoder, parse_dle_eot, status_request
from lineside.codecs.zpl import CANCEL_ALL, HOST_QUERY_STATUS, HOST_STATUS, download_truetype
from lineside.codecs.zpl_status import (
    ETX,
    STX,
    PrinterStatus,
    StatusReplyError,
    parse_host_query,
    parse_status_replies,
)
from lineside.errors import DeviceError, DeviceTimeout, PrinterFault, TransportError

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


class _Query:
    """A status query written to the printer whose reply is still owed (FIFO)."""

    __slots__ = ("error", "frames", "labels_before", "publish", "status")

    def __init__(self, frames: int, labels_before: int, *, publish: bool = True) -> None:
        #: Framed strings in the reply: 3 (``~HS``), 4 (``~HS~HQES``), 1 (``~HQES`` alone).
        self.frames = frames
        #: Labels written on this link before the query: the reply's buffer counters say
        #: how many of them have printed.
        self.labels_before = labels_before
        #: Publish the status read as a change (not the ~HQES probe's partial readings).
        self.publish = publish
        self.status: PrinterStatus | None = None
        self.error: Exception | None = None

    @property
    def done(self) -> bool:
        return self.status is not None or self.error is not None


class PendingLabel:
    """A label written to the printer; :meth:`confirmed` waits until it has printed."""

    __slots__ = ("_printer", "error", "label_bytes", "sequence", "started", "status")

    def __init__(self, printer: ZplPrinter, sequence: int, label_bytes: int, started: float):
        self._printer = printer
        self.sequence = sequence
        self.label_bytes = label_bytes
        self.started = started
        self.status: PrinterStatus | None = None
        self.error: Exception | None = None

    @property
    def settled(self) -> bool:
        """Printed (``status`` set) or failed (``error`` set)."""
        return self.status is not None or self.error is not None

    async def confirmed(self) -> PrintReceipt:
        """Wait until the printer reports the label printed.

        Raises :class:`PrinterFault` when the printer faulted with the label still in its
        buffer (the buffer is then cancelled, so it never prints later), or the transport's
        error when the link failed before the label was seen printed.
        """
        return await self._printer._confirm(self)


def _frames_end(data: bytes, frames: int) -> int:
    """The offset just past the ``frames``-th complete ``STX..ETX`` frame, or -1."""
    position = 0
    for _ in range(frames):
        start = data.find(STX, position)
        if start < 0:
            return -1
        end = data.find(ETX, start + 1)
        if end < 0:
            return -1
        position = end + 1
    return position


class ZplPrinter(_StatusSource):
    """A Zebra-compatible ZPL printer, with labels pipelined and each one confirmed.

    Every label is written together with a ``~HS`` (one write, one round trip), and the
    replies are read in order. The reply to the query written after label *n* says how
    many formats are still in the printer's buffer, so labels up to *n* minus that count
    have printed: up to ``max_in_flight`` labels can be on their way while each is still
    confirmed individually (``confirm=True``: :meth:`print_label` returns once its label
    printed). When nothing is owed and a label has not printed yet, the driver asks again
    every ``poll_interval`` seconds.

    A fault reported while labels are still in the buffer fails each of them (none counts
    as printed) and cancels the buffer with ``~JA``, so they never print after the fault
    is cleared. A label is not sent while the freshest status (no older than
    ``poll_interval``, else asked again) reports a fault.

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
        self._read_lock = asyncio.Lock()
        self._owed: deque[_Query] = deque()
        self._rx = b""
        #: Labels written and not yet settled (printed or failed), oldest first.
        self._unsettled: deque[PendingLabel] = deque()
        self._status_at = -math.inf
        self._cancel_buffer = False

    # -- status -----------------------------------------------------------------------

    async def status(self) -> PrinterStatus:
        """Ask ``~HS`` (and ``~HQES``, see the class) and parse; publish a change if any."""
        async with self._lock:
            query = await self._ask()
        return await self._answer(query)

    def _query_bytes(self) -> tuple[bytes, int]:
        if self.host_query:
            return HOST_STATUS + HOST_QUERY_STATUS, 4
        return HOST_STATUS, 3

    async def _ask(self, label: bytes = b"") -> _Query:
        """Write ``label`` (if any) and a status query in one write; the lock is held."""
        if self._cancel_buffer:
            await self._cancel()
        if self.host_query is None:
            await self._probe()
        query_bytes, frames = self._query_bytes()
        query = _Query(frames, self._sequence + (1 if label else 0))
        await self._write(label + query_bytes)
        self._owed.append(query)
        return query

    async def _cancel(self) -> None:
        """``~JA``: the printer drops every format in its buffer. Each label still unsettled
        fails, since it may have been among them (the lock is held)."""
        await self._write(CANCEL_ALL)
        self._cancel_buffer = False
        error = PrinterFault(f"{self.transport.url}: label cancelled (~JA) after a fault")
        for label in self._unsettled:
            label.error = error
        self._unsettled.clear()

    async def _write(self, data: bytes) -> None:
        try:
            await self.transport.write(data)
        except TransportError as exc:
            self._broken(exc)
            raise

    async def _probe(self) -> None:
        """Ask ``~HS`` and then ``~HQES`` alone; keep ``~HQES`` if it is answered in time."""
        self.host_query = False  # while probing
        try:
            await self._write(HOST_STATUS)
            hs = _Query(3, self._sequence, publish=False)
            self._owed.append(hs)
            await self._answer(hs)
            await self._write(HOST_QUERY_STATUS)
            hqes = _Query(1, self._sequence, publish=False)
            self._owed.append(hqes)
            await self._answer(hqes)
        except DeviceTimeout as exc:
            if hs.done and hs.error is None:
                logger.info("%s: no answer to ~HQES; using ~HS alone", self.transport.url)
                return
            self.host_query = None
            raise exc from exc.__cause__
        except Exception:
            self.host_query = None
            raise
        self.host_query = True

    async def _answer(self, query: _Query) -> PrinterStatus:
        """Read replies in order until ``query`` has its own; raise its error if it failed."""
        await self._read_owed(lambda: query.done)
        if query.error is not None:
            raise query.error
        assert query.status is not None
        return query.status

    async def _read_owed(self, done: Callable[[], bool]) -> None:
        """Read owed replies, one reader at a time, until ``done()`` or none is owed."""
        while not done() and self._owed:
            async with self._read_lock:
                if not done() and self._owed:
                    await self._read_reply()

    async def _read_reply(self) -> None:
        """Read and apply the reply owed first (the read lock is held)."""
        query = self._owed[0]
        what = {1: "~HQES reply", 3: "~HS reply", 4: "~HS and ~HQES replies"}[query.frames]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.status_timeout
        try:
            while (end := _frames_end(self._rx, query.frames)) < 0:
                remaining = deadline - loop.time()
                try:
                    if remaining <= 0:
                        raise TimeoutError
                    self._rx += await self.transport.read(4096, timeout=remaining)
                except (TimeoutError, DeviceTimeout) as exc:
                    got = self._rx[:40]
                    raise DeviceTimeout(
                        f"{self.transport.url}: no complete {what} within "
                        f"{self.status_timeout:g} s" + (f" (got {got!r})" if got else "")
                    ) from exc
            reply, self._rx = self._rx[:end], self._rx[end:]
            if query.frames == 1:
                previous = self._events.last or PrinterStatus()
                status = parse_host_query(reply).apply_to(previous)
            else:
                status = parse_status_replies(reply, host_query=query.frames == 4)
        except DeviceTimeout as exc:
            if query.frames == 1 and not query.publish:
                # The ~HQES probe: silence means the printer does not know it.
                self._owed.popleft()
                self._rx = b""
                query.error = exc
                return
            self._broken(exc)
            return
        except (StatusReplyError, TransportError) as exc:
            self._broken(exc)
            return
        self._owed.popleft()
        query.status = status
        self._status_at = loop.time()
        self._settle(query.labels_before, status)
        if query.publish:
            self._events.publish(status, "~HS+~HQES" if query.frames == 4 else "~HS")

    def _settle(self, labels_before: int, status: PrinterStatus) -> None:
        """Confirm the labels the reply shows printed; fail the rest on a fault."""
        printed_through = labels_before - status.formats_in_buffer - status.labels_remaining
        while self._unsettled and self._unsettled[0].sequence <= printed_through:
            self._unsettled.popleft().status = status
        if status.faults and self._unsettled:
            fault = PrinterFault(
                f"{self.transport.url}: printer reports {', '.join(status.faults)}"
            )
            while self._unsettled and self._unsettled[0].sequence <= labels_before:
                self._unsettled.popleft().error = fault
            self._cancel_buffer = True

    def _broken(self, exc: Exception) -> None:
        """The link or the reply stream failed: every owed reply and unsettled label fails."""
        for query in self._owed:
            query.error = exc
        self._owed.clear()
        self._rx = b""
        for label in self._unsettled:
            label.error = exc
        self._unsettled.clear()
        self._status_at = -math.inf
        self._lost(exc)

    # -- labels -----------------------------------------------------------------------

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

    async def submit(self, data: LabelData) -> PendingLabel:
        """Render, wait for room and a printer without fault, and write the label.

        Returns once the label is written; ``await pending.confirmed()`` for its
        confirmation. Labels are written in the order :meth:`submit` is called.
        """
        label = self.template.render(data)
        started = time.perf_counter()
        async with self._lock:
            if not self._fonts_sent:
                await self.download_fonts()
            await self._wait_for_room()
            query = await self._ask(label)
            self._sequence += 1
            pending = PendingLabel(self, self._sequence, len(label), started)
            if query.error is None:
                self._unsettled.append(pending)
            else:
                pending.error = query.error
            return pending

    async def print_label(self, data: LabelData) -> PrintReceipt:
        """Render, wait for room, send, and (with ``confirm``) wait until printed."""
        pending = await self.submit(data)
        if self.confirm:
            return await pending.confirmed()
        return PrintReceipt(
            pending.sequence,
            pending.label_bytes,
            False,
            self._events.last or PrinterStatus(),
            time.perf_counter() - pending.started,
        )

    async def _wait_for_room(self) -> None:
        """Until fewer than ``max_in_flight`` labels are unsettled and no fault is reported.

        The lock is held: no label is written meanwhile.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.print_timeout
        while True:
            while len(self._unsettled) >= self.max_in_flight:
                with contextlib.suppress(DeviceError):
                    await self._until_settled(self._unsettled[0], deadline, locked=True)
            if self._cancel_buffer:
                await self._cancel()
            known = self._events.last
            stale = loop.time() - self._status_at > self.poll_interval
            if not self._owed and (stale or known is None or known.faults):
                # Nothing on its way from the printer, and what we know is stale or a
                # fault (which may have been cleared since): ask.
                await self._answer(await self._ask())
            status = self._events.last or PrinterStatus()
            if status.faults:
                raise PrinterFault(
                    f"{self.transport.url}: printer reports {', '.join(status.faults)}"
                )
            if len(self._unsettled) < self.max_in_flight:
                return

    async def _confirm(self, pending: PendingLabel) -> PrintReceipt:
        loop = asyncio.get_running_loop()
        try:
            await self._until_settled(pending, loop.time() + self.print_timeout)
        except DeviceError:
            if self._cancel_buffer:
                # At once, before the fault is cleared and the printer prints them.
                async with self._lock:
                    if self._cancel_buffer:
                        await self._cancel()
            raise
        assert pending.status is not None
        return PrintReceipt(
            pending.sequence,
            pending.label_bytes,
            True,
            pending.status,
            time.perf_counter() - pending.started,
        )

    async def _until_settled(
        self, pending: PendingLabel, deadline: float, *, locked: bool = False
    ) -> None:
        """Read owed replies, or ask again every ``poll_interval``, until ``pending`` settles.

        ``locked``: the caller holds the write lock (it may ask without taking it).
        """
        loop = asyncio.get_running_loop()
        while not pending.settled:
            if self._owed:
                await self._read_owed(lambda: pending.settled)
                continue
            if loop.time() >= deadline:
                error = DeviceTimeout(
                    f"{self.transport.url}: label not printed within {self.print_timeout:g} s"
                )
                while self._unsettled and self._unsettled[0].sequence <= pending.sequence:
                    self._unsettled.popleft().error = error
                self._cancel_buffer = True
                break
            await asyncio.sleep(self.poll_interval)
            if pending.settled or self._owed:
                continue
            if locked:
                await self._ask()
            elif not self._lock.locked():  # else the holder asks
                async with self._lock:
                    if not pending.settled and not self._owed:
                        await self._ask()
        if pending.error is not None:
            raise pending.error


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


__all__ = ["EscposPrinter", "PendingLabel", "PrintReceipt", "StatusChange", "ZplPrinter"]
